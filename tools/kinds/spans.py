"""Entity spans: the contract's shape, its validation, words and BIO tags, and the entity metrics.

A span is `{"start": int, "end": int, "label": str}` with character offsets into the input, end exclusive
(an optional `"text"` must equal the slice). Spans of one input may not overlap. Everything here compares
span sets in their canonical form (sorted, three keys), so two answers are equal when they find the same
entities, whatever order or extra keys they came with.

Entity metrics are exact-span micro precision, recall and F1 over character spans, per entity type too:
the same as seqeval's strict IOB2 scoring when spans sit on word boundaries (a test checks this against
seqeval), and defined for spans that do not.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

Span = dict  # {"start": int, "end": int, "label": str}

WORD = re.compile(r"\w+|[^\w\s]")  # "Apple's" is Apple ' s: an entity may end before the possessive or a hyphen


def check(text: str, spans: Any, what: str = "output") -> str | None:
    """Why `spans` is not a valid span list for `text` (None when it is)."""
    if not isinstance(spans, list):
        return f"{what} must be a list of spans ({{'start', 'end', 'label'}}), got {type(spans).__name__}"
    for i, s in enumerate(spans):
        if not isinstance(s, dict) or not {"start", "end", "label"} <= s.keys():
            return f"{what}[{i}] must be an object with 'start', 'end' and 'label'"
        a, b, label = s["start"], s["end"], s["label"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
            return f"{what}[{i}]: 'start' and 'end' must be integers"
        if not isinstance(label, str) or not label.strip():
            return f"{what}[{i}]: 'label' must be a non-empty string"
        if not 0 <= a < b <= len(text):
            return f"{what}[{i}]: offsets {a}..{b} out of range for an input of {len(text)} characters"
        if "text" in s and s["text"] != text[a:b]:
            return f"{what}[{i}]: 'text' {s['text']!r} does not match the input at {a}..{b} ({text[a:b]!r})"
    ordered = sorted(spans, key=_key)
    for x, y in zip(ordered, ordered[1:]):
        if y["start"] < x["end"]:
            return f"{what}: spans {x['start']}..{x['end']} and {y['start']}..{y['end']} overlap"
    return None


def _key(s: Span) -> tuple:
    return (s["start"], s["end"], s["label"])


def canonical(spans: list[Span]) -> list[Span]:
    """Sorted spans with only start, end and label."""
    return [{"start": int(s["start"]), "end": int(s["end"]), "label": str(s["label"])} for s in sorted(spans, key=_key)]


def same_answer(a, b) -> bool:
    """A label, or a span set (in any order), equal to another."""
    if isinstance(a, list) and isinstance(b, list):
        return canonical(a) == canonical(b)
    return a == b


def types_of(rows: list[list[Span]]) -> list[str]:
    return sorted({s["label"] for spans in rows for s in spans})


# ---------------------------------------------------------------- words and tags


def words(text: str) -> list[tuple[int, int]]:
    """Character offsets of the words (and punctuation marks) of `text`."""
    return [m.span() for m in WORD.finditer(text)]


def to_tags(text: str, spans: list[Span], offsets: list[tuple[int, int]] | None = None) -> list[str]:
    """IOB2 tags of the words of `text` (a word is in a span when it starts inside it)."""
    offsets = words(text) if offsets is None else offsets
    tags = ["O"] * len(offsets)
    for s in spans:
        inside = [i for i, (a, _) in enumerate(offsets) if s["start"] <= a < s["end"]]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + s["label"]
    return tags


def from_tags(offsets: list[tuple[int, int]], tags: list[str]) -> list[Span]:
    """Spans from word tags: IOB2, IOB1 (an I- tag may open an entity) and BIOES all decode."""
    spans, cur = [], None
    for (a, b), tag in zip(offsets, tags):
        kind = tag[2:] if tag != "O" and len(tag) > 2 else None
        if kind and (tag.startswith(("B-", "S-")) or cur is None or cur["label"] != kind):
            cur = {"start": a, "end": b, "label": kind}
            spans.append(cur)
        elif kind:
            cur["end"] = b
        else:
            cur = None
        if tag.startswith(("E-", "S-")):
            cur = None
    return spans


def from_tokens(toks: list[tuple[str, str]]) -> tuple[str, list[Span]]:
    """(token, tag) pairs, as CoNLL files hold them, as a text (tokens joined by spaces) and its spans."""
    text, offsets = "", []
    for tok, _ in toks:
        start = len(text) + (1 if text else 0)
        text = f"{text} {tok}" if text else tok
        offsets.append((start, len(text)))
    return text, from_tags(offsets, [t for _, t in toks])


# ---------------------------------------------------------------- metrics


def _prf(tp: int, n_pred: int, n_true: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4)}


def entity_metrics(truth: list[list[Span]], pred: list[list[Span]]) -> dict:
    """Exact-span micro precision, recall and F1, per type too, and the share of inputs answered exactly."""
    tp, n_pred, n_true = Counter(), Counter(), Counter()
    exact = 0
    for t, p in zip(truth, pred):
        ts, ps = {_key(s) for s in t}, {_key(s) for s in p}
        exact += ts == ps
        for k in ts & ps:
            tp[k[2]] += 1
        for k in ps:
            n_pred[k[2]] += 1
        for k in ts:
            n_true[k[2]] += 1
    out = {**_prf(sum(tp.values()), sum(n_pred.values()), sum(n_true.values())), "n": len(truth),
           "sentence_accuracy": round(exact / len(truth), 4) if truth else None,
           "per_type": {ty: {**_prf(tp[ty], n_pred[ty], n_true[ty]), "support": n_true[ty]} for ty in sorted(n_true | n_pred)}}
    return out


ERROR_KINDS = ("false_positive", "false_negative", "boundary", "type")


def errors(text: str, truth: list[Span], pred: list[Span]) -> list[dict]:
    """What is wrong in one answer, one entry a mistake:
    - type: the right offsets with the wrong type;
    - boundary: an overlapping span of the right type with the wrong offsets (an overlapping span of another
      type counts as a type confusion);
    - false_positive: a predicted span that overlaps no true one; false_negative: a true span nothing overlaps.
    Each entry: kind, type (the true type; the predicted one for a false positive), predicted type, surface text."""
    t_left = [s for s in truth if _key(s) not in {_key(p) for p in pred}]
    p_left = [s for s in pred if _key(s) not in {_key(t) for t in truth}]
    out = []
    for p in list(p_left):
        over = [t for t in t_left if t["start"] < p["end"] and p["start"] < t["end"]]
        if not over:
            continue
        t = next((x for x in over if (x["start"], x["end"]) == (p["start"], p["end"])), None) or \
            next((x for x in over if x["label"] == p["label"]), over[0])
        same_offsets = (t["start"], t["end"]) == (p["start"], p["end"])
        kind = "boundary" if t["label"] == p["label"] else "type"
        out.append({"kind": kind, "type": t["label"], "predicted": p["label"], "text": text[t["start"]:t["end"]],
                    "predicted_text": text[p["start"]:p["end"]], "exact_offsets": same_offsets})
        t_left.remove(t)
        p_left.remove(p)
    out += [{"kind": "false_positive", "type": p["label"], "predicted": p["label"], "text": text[p["start"]:p["end"]]} for p in p_left]
    out += [{"kind": "false_negative", "type": t["label"], "predicted": None, "text": text[t["start"]:t["end"]]} for t in t_left]
    return out


def error_breakdown(texts: list[str], truth: list[list[Span]], pred: list[list[Span]]) -> dict:
    """Counts of each error kind, overall and per type."""
    kinds, per_type = Counter(), {}
    for x, t, p in zip(texts, truth, pred):
        for e in errors(x, t, p):
            kinds[e["kind"]] += 1
            per_type.setdefault(e["type"], Counter())[e["kind"]] += 1
    return {"total": {k: kinds[k] for k in ERROR_KINDS},
            "per_type": {ty: {k: c[k] for k in ERROR_KINDS} for ty, c in sorted(per_type.items())}}


def mistakes_fixed(truth: list[list[Span]], before: list[list[Span]], after: list[list[Span]]) -> float | None:
    """The share of the entity mistakes in `before` (false positives, false negatives, boundary and type
    errors) that are gone in `after`, net of new ones: the gate's "fixed" for entities, where one failed
    sentence may hold several mistakes and a candidate that mends most of them leaves it failed."""
    n_before = sum(len(errors("", t, p)) for t, p in zip(truth, before))
    n_after = sum(len(errors("", t, p)) for t, p in zip(truth, after))
    return round(max(0.0, (n_before - n_after) / n_before), 4) if n_before else None


def type_drops(before: dict, after: dict, tolerance: float, min_support: int = 5) -> dict[str, float]:
    """Entity types whose F1 fell by more than `tolerance` (from two `entity_metrics` results)."""
    drops = {}
    for ty, b in before.get("per_type", {}).items():
        a = after.get("per_type", {}).get(ty, {"f1": 0.0})
        if b["support"] >= min_support and round(b["f1"] - a["f1"], 6) > tolerance:
            drops[ty] = round(b["f1"] - a["f1"], 4)
    return drops
