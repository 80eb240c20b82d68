"""Label-preserving perturbations: typos, casing, truncation, filler. No new content is invented."""

from __future__ import annotations

import random

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
