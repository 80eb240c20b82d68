"""Entity extraction in production: triage, failure patterns by error kind, the training mix, the gate's measures.

- triage: poison as for classification (injected instructions, gibberish, off-task text); a failure without
  a correction is unusable; a correction is noise when it contradicts what the trusted data (the parent data
  and the passed logs) says of the same words consistently: it gives a well-attested entity another type, or
  deletes a well-attested entity the deployed model had found. The rest are fixable.
- patterns: every failure broken into error kinds (false positive, false negative, boundary, type
  confusion), grouped by kind, type and the surface's shape (capitalised, lower case, all caps, with digits,
  a mention or hashtag; one word or several), with counts and examples.
- the mix follows the diagnosis: gold corrections (repeated when recall errors dominate), hard negatives
  for precision errors (trusted sentences that hold a falsely predicted surface outside any entity), the
  retained passes and the parent data.
- the gate counts flipped sentences (right before, wrong after) and per-type F1 drops.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from tools.gate import held_out_count
from tools.kinds.spans import Span, entity_metrics, error_breakdown, errors
from tools.production.triage import passes_and_failures, poison_verdicts
from tools.store.data import Example, LogRecord


@dataclass
class EntityTriageSettings:
    min_new_type_examples: int = 5
    min_attested: int = 3  # occurrences of a surface in the trusted data before its type counts as settled
    min_agreement: float = 0.8  # share of those occurrences that must agree
    off_task_quantile: float = 0.01
    off_task_margin: float = 0.85


def _surface(text: str, s: Span) -> str:
    return " ".join(text[s["start"]:s["end"]].lower().split())


def lexicon(rows: list[tuple[str, list[Span]]]) -> dict[str, Counter]:
    """For each entity surface (lower-cased) in trusted rows, how often it carries each type."""
    lex: dict[str, Counter] = defaultdict(Counter)
    for text, spans in rows:
        for s in spans:
            lex[_surface(text, s)][s["label"]] += 1
    return lex


def _settled(lex: dict[str, Counter], surface: str, cfg: EntityTriageSettings) -> str | None:
    c = lex.get(surface)
    if not c:
        return None
    ty, k = c.most_common(1)[0]
    n = sum(c.values())
    return ty if n >= cfg.min_attested and k / n >= cfg.min_agreement else None


def contradictions(r: LogRecord, lex: dict[str, Counter], cfg: EntityTriageSettings) -> list[str]:
    """How a failure's correction contradicts the trusted data's settled types (empty when it does not)."""
    out = []
    for s in r.correction:
        ty = _settled(lex, _surface(r.input, s), cfg)
        if ty and ty != s["label"]:
            out.append(f"{r.input[s['start']:s['end']]!r} corrected to {s['label']}, trusted data says {ty}")
    for s in r.prediction:
        ty = _settled(lex, _surface(r.input, s), cfg)
        if ty == s["label"] and not any(c["start"] < s["end"] and s["start"] < c["end"] for c in r.correction):
            out.append(f"{r.input[s['start']:s['end']]!r} ({ty}) removed by the correction, trusted data says {ty}")
    return out


def triage(records: list[LogRecord], parent: list[Example], deployed_types: list[str], log_emb: np.ndarray,
           parent_emb: np.ndarray, vocab: set[str], cfg: EntityTriageSettings = EntityTriageSettings()) -> list[dict]:
    """One verdict per log line: {"id", "category", "reason", ...}, categories as for classification."""
    out: list[dict] = [{"id": r.id} for r in records]
    passed = [i for i, r in enumerate(records) if r.verdict == "pass"]
    for i, v in poison_verdicts([r.input for r in records], passed, log_emb, parent_emb, vocab, cfg.off_task_quantile,
                                cfg.off_task_margin).items():
        out[i].update(v)
    fails = passes_and_failures(records, out)
    new = Counter(s["label"] for i in fails for s in records[i].correction if s["label"] not in deployed_types)
    lex = lexicon([(e.input, e.output) for e in parent] + [(records[i].input, records[i].prediction)
                                                           for i in range(len(records)) if out[i].get("category") == "trusted"])
    for i in fails:
        r = records[i]
        rare = sorted({s["label"] for s in r.correction if s["label"] not in deployed_types and new[s["label"]] < cfg.min_new_type_examples})
        why = contradictions(r, lex, cfg)
        if rare:
            out[i].update(category="unusable", reason="new_type_too_few", types=rare)
        elif why:
            out[i].update(category="noise", reason="contradicts_trusted_labels", detail=why[:3])
        else:
            out[i].update(category="fixable", reason="failure" if not any(s["label"] not in deployed_types for s in r.correction) else "new_type")
    return out


def split_eval(records: list[LogRecord], tri: list[dict], regression_size: int, holdout_failures: float,
               tuning: float = 0.1, seed: int = 0) -> dict:
    """The regression set (trusted passes), held-out fixable failures, and a tuning split (a share of the
    rest of the trusted and fixable lines, kept out of training to set the decision threshold)."""
    rng = random.Random(seed)
    trusted = [i for i, t in enumerate(tri) if t["category"] == "trusted"]
    fixable = [i for i, t in enumerate(tri) if t["category"] == "fixable"]
    rng.shuffle(trusted)
    rng.shuffle(fixable)
    reg = trusted[: min(regression_size, len(trusted) // 4)]
    hold = fixable[: held_out_count(len(fixable), holdout_failures)]
    rest = trusted[len(reg):] + fixable[len(hold):]
    rng.shuffle(rest)
    tune = rest[: int(tuning * len(rest))] if len(rest) >= 50 else []
    ids = lambda xs: [records[i].id for i in sorted(xs)]  # noqa: E731
    return {"regression": ids(reg), "held_out_failures": ids(hold), "tuning": ids(tune)}


def shape(text: str) -> str:
    """A surface's shape: what a pattern of mistakes on it has in common."""
    t = text.strip()
    kind = ("mention or hashtag" if t[:1] in "@#" else "with digits" if re.search(r"\d", t) else
            "all caps" if t.isupper() and len(t) > 1 else "capitalised" if t[:1].isupper() else "lower case")
    return f"{kind}, {'one word' if len(t.split()) == 1 else 'several words'}"


def patterns(records: list[LogRecord], tri: list[dict], top: int = 20) -> list[dict]:
    """Failure patterns: mistakes grouped by error kind, type and surface shape, largest first."""
    groups: dict[tuple, dict] = {}
    for r, t in zip(records, tri):
        if r.verdict != "fail" or r.correction is None:
            continue
        for e in errors(r.input, r.correction, r.prediction):
            key = (e["kind"], e["type"], shape(e["text"]))
            g = groups.setdefault(key, {"ids": [], "examples": [], "surfaces": Counter(), "triage": Counter(), "predicted": Counter()})
            g["ids"].append(r.id)
            g["triage"][t["category"]] += 1
            g["surfaces"][e["text"].lower()] += 1
            g["predicted"][e["predicted"]] += 1
            if len(g["examples"]) < 3:
                g["examples"].append(r.input)
    out = []
    for (kind, ty, shp), g in sorted(groups.items(), key=lambda kv: -len(kv[1]["ids"]))[:top]:
        what = {"false_positive": f"{ty} found where there is none", "false_negative": f"{ty} missed",
                "boundary": f"{ty} with the wrong extent", "type": f"{ty} given another type"}[kind]
        out.append({"name": f"{what} ({shp})", "error_kind": kind, "type": ty, "shape": shp, "size": len(g["ids"]),
                    "kind": g["triage"].most_common(1)[0][0], "triage": dict(g["triage"]),
                    "top_words": [w for w, _ in g["surfaces"].most_common(5)],
                    "confusions": [[ty, p or "O", k] for p, k in g["predicted"].most_common(3)], "examples": g["examples"],
                    "ids": sorted(set(g["ids"]))})
    return out


def entity_confusions(texts: list[str], truth: list[list[Span]], pred: list[list[Span]], n: int = 10) -> list[tuple[str, str, int]]:
    """The most frequent entity mistakes as (true type, predicted type or "O"); a false positive is ("O", type)."""
    c = Counter()
    for x, t, p in zip(texts, truth, pred):
        for e in errors(x, t, p):
            c[("O", e["type"]) if e["kind"] == "false_positive" else (e["type"], e["predicted"] or "O")] += 1
    return [(a, b, k) for (a, b), k in c.most_common(n)]


def dominant_error(breakdown: dict) -> str:
    """"precision" when false positives outnumber false negatives, else "recall"."""
    t = breakdown["total"]
    return "precision" if t["false_positive"] > t["false_negative"] else "recall"


# ---------------------------------------------------------------- the training mix


@dataclass
class EntityMix:
    rows: list[dict]  # {"input", "output", "source", "ref"}
    composition: dict


def build_mix(gold: list[tuple[str, list[Span], str]], trusted: list[tuple[str, list[Span], str]], false_surfaces: list[str],
              gold_repeat: int = 1, hard_negatives: int = 3, replay_fraction: float = 1.0, exclude: set[str] | None = None,
              seed: int = 0) -> EntityMix:
    """Gold corrections `gold_repeat` times; for each falsely predicted surface, up to `hard_negatives` trusted
    sentences that hold it outside any entity (look-alike non-entities); a `replay_fraction` of the trusted rows
    (passes and parent data). Inputs in `exclude` (the evaluation sets) never enter."""
    rng = random.Random(seed)
    exclude = exclude or set()
    norm = lambda t: " ".join(t.lower().split())  # noqa: E731
    rows = [{"input": t, "output": s, "source": "gold", "ref": ref} for t, s, ref in gold for _ in range(max(1, gold_repeat))]
    kept = [x for x in trusted if rng.random() < replay_fraction] if replay_fraction < 1 else list(trusted)
    rows += [{"input": t, "output": s, "source": "replay" if ref.startswith("parent:") else "retained", "ref": ref} for t, s, ref in kept]
    if hard_negatives and false_surfaces:
        by_word = defaultdict(list)
        for k, (t, s, _) in enumerate(trusted):
            for w in set(norm(t).split()):
                by_word[w].append(k)
        for surf in false_surfaces:
            found = []
            for k in sorted(set(by_word.get(surf.split()[0], []))):
                t, s, ref = trusted[k]
                m = re.search(r"\b" + re.escape(surf) + r"\b", t.lower())
                if m and not any(x["start"] < m.end() and m.start() < x["end"] for x in s):
                    found.append((t, s, ref))
            rng.shuffle(found)
            rows += [{"input": t, "output": s, "source": "hard_negative", "ref": ref} for t, s, ref in found[:hard_negatives]]
    rows = [r for r in rows if norm(r["input"]) not in exclude]
    rng.shuffle(rows)
    return EntityMix(rows, dict(Counter(r["source"] for r in rows)))


# ---------------------------------------------------------------- the gate's measures


def log_metrics(texts: list[str], truth: list[list[Span]], pred: list[list[Span]]) -> dict:
    """Entity metrics with the error-kind breakdown."""
    return {**entity_metrics(truth, pred), "errors": error_breakdown(texts, truth, pred)}

