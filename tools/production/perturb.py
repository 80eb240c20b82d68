"""Label-preserving perturbations: typos, casing, truncation, filler. No new content is invented."""

from __future__ import annotations

import random
import re

FILLERS = ["hi,", "hello,", "please", "um", "quick question:", "hey there,", "thanks"]


def typo(text: str, rng: random.Random) -> str:
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for i in rng.sample(letters, k=min(len(letters), max(1, len(letters) // 15))):
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap" and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "drop":
            chars[i] = ""
        else:
            chars[i] = chars[i] * 2
    return "".join(chars)


def casing(text: str, rng: random.Random) -> str:
    return rng.choice((str.lower, str.upper, str.capitalize))(text)


def truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) < 6:
        return text
    return " ".join(words[: max(4, int(len(words) * rng.uniform(0.6, 0.85)))])


def filler(text: str, rng: random.Random) -> str:
    return f"{rng.choice(FILLERS)} {text}"


PERTURBATIONS = {"typo": typo, "casing": casing, "truncate": truncate, "filler": filler}


def perturb(text: str, rng: random.Random, kinds: tuple[str, ...] = tuple(PERTURBATIONS)) -> tuple[str, str]:
    """One perturbed copy of `text` and the name of the perturbation used."""
    kind = rng.choice(kinds)
    out = PERTURBATIONS[kind](text, rng)
    if out == text:
        kind, out = "typo", typo(text, rng)
    return out, kind


# ------------------------------------------------------------------ the same, for text with entity spans


def edit(text: str, spans: list[dict], a: int, b: int, new: str) -> tuple[str, list[dict]]:
    """`text[a:b]` replaced by `new`; the spans after it move with it. [a, b) must not cut into a span."""
    if any(s["start"] < b and a < s["end"] for s in spans):
        raise ValueError(f"edit {a}:{b} overlaps a span")
    shift = len(new) - (b - a)
    return text[:a] + new + text[b:], [{**s, "start": s["start"] + shift * (s["start"] >= b), "end": s["end"] + shift * (s["start"] >= b)}
                                       for s in spans]


def free_words(text: str, spans: list[dict]) -> list[tuple[int, int]]:
    """Offsets of the whitespace-separated words that no span touches."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)
            if not any(s["start"] < m.end() and m.start() < s["end"] for s in spans)]


def perturb_spans(kind: str, text: str, spans: list[dict], rng: random.Random, misspell: dict[str, str] | None = None,
                  preambles: list[str] = FILLERS) -> tuple[str, list[dict]]:
    """A span-preserving perturbation: every entity keeps its words and its type, at its new offsets.
    typo/misspelling touch a word outside the entities; casing changes the whole text only when that keeps
    its length; truncation cuts between entities; preamble/filler prepend a phrase (`preambles`, or a filler word)."""
    free = free_words(text, spans)
    if kind in ("typo", "misspelling") and free:
        hits = [(a, b) for a, b in free if (misspell or {}).get(text[a:b].lower())] if kind == "misspelling" else []
        a, b = rng.choice(hits or free)
        new = misspell[text[a:b].lower()] if hits else typo(text[a:b], rng)
        return edit(text, spans, a, b, new)
    if kind == "casing":
        out = casing(text, rng)
        return (out, spans) if len(out) == len(text) else (text, spans)
    if kind == "truncation":
        ends = [m.end() for m in re.finditer(r"\S+", text)]
        cuts = [c for c in ends[3:-1] if c >= 0.6 * len(text) and not any(s["start"] < c < s["end"] for s in spans)]
        if cuts:
            c = rng.choice(cuts)
            return text[:c], [s for s in spans if s["end"] <= c]
        return text, spans
    if kind in ("preamble", "filler"):
        return edit(text, spans, 0, 0, rng.choice(preambles if kind == "preamble" else FILLERS) + " ")
    return text, spans
