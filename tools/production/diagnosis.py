"""Production diagnosis: score the deployed model, triage every log line, split the evaluation sets,
and group failures into patterns."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from tools.gate import held_out_count
from tools.production.clustering import cluster_failures, confusion_pairs
from tools.production.triage import (fit_noise_model, has_negation, negation_rates, noisy_corrections, passes_and_failures, plausible_corrections,
                                     poison_verdicts)
from tools.store.data import Example, LogRecord


@dataclass
class TriageSettings:
    min_new_label_examples: int = 5
    noise_ratio: float | None = None  # None: 1/K for K labels (tools.production.triage.default_noise_ratio)
    off_task_quantile: float = 0.01
    off_task_margin: float = 0.85
    max_negation_rate: float = 0.02  # a negated request is flagged when its label's examples negate less often


def tokenizer_vocab(model: str | None = None) -> set[str]:
    from transformers import AutoTokenizer

    from tools.models.embed import resolve_model

    vocab = AutoTokenizer.from_pretrained(resolve_model(model)).get_vocab()
    return {w for w in vocab if w.isalpha()}


def triage(
    records: list[LogRecord], parent: list[Example], deployed_labels: list[str], deployed_probs: np.ndarray,
    log_emb: np.ndarray, parent_emb: np.ndarray, vocab: set[str], settings: TriageSettings = TriageSettings(), seed: int = 0,
) -> list[dict]:
    """One verdict per log line: {"id", "category", "reason", ...}.

    category: trusted (a pass to learn from), fixable, noise, poison, or unusable (a failure without
    a correction, or a new label with too few examples).
    """
    out: list[dict] = [{"id": r.id} for r in records]
    # poison first: it is excluded whatever its verdict
    passed_idx = [i for i, r in enumerate(records) if r.verdict == "pass"]
    asserted = [r.prediction if r.verdict == "pass" else r.correction for r in records]
    for i, v in poison_verdicts([r.input for r in records], passed_idx, log_emb, parent_emb, vocab,
                                settings.off_task_quantile, settings.off_task_margin, labels=asserted).items():
        out[i].update(v)
    # a negation in a label whose curated examples never negate: the label fits the request without it
    if parent:
        rates = negation_rates([e.input for e in parent], [e.output for e in parent])
        for i, r in enumerate(records):
            label = asserted[i]
            rate = rates.get(label) if label is not None else None
            if "category" not in out[i] and rate is not None and rate < settings.max_negation_rate and has_negation(r.input):
                out[i].update(category="poison", reason="negated_request", label=label, label_negation_rate=round(rate, 4))

    # passes that are not poison are trusted; failures need a correction
    fails = passes_and_failures(records, out)
    trusted = [i for i in range(len(records)) if out[i].get("category") == "trusted"]
    t_emb = np.concatenate([parent_emb, log_emb[trusted]])
    t_y = [e.output for e in parent] + [records[i].prediction for i in trusted]
    off = [i for i, r in enumerate(records) if out[i].get("reason") == "off_task" and r.verdict != "pass" and r.correction is not None]
    nm = fit_noise_model(t_emb, t_y, seed) if (fails or off) and len(set(t_y)) > 1 else None

    # an off-task failure whose correction the trusted data finds plausible is an unusual request, not another task's
    if nm is not None and off:
        for i, keep in zip(off, plausible_corrections(nm, log_emb[off], [records[i].correction for i in off])):
            if keep:
                out[i] = {"id": records[i].id, "off_task_overruled": out[i]["similarity"]}
                fails.append(i)
        fails.sort()

    # new labels: learnable only with enough examples
    new_counts = Counter(records[i].correction for i in fails if records[i].correction not in deployed_labels)
    for i in fails:
        c = records[i].correction
        if c not in deployed_labels and new_counts[c] < settings.min_new_label_examples:
            out[i].update(category="unusable", reason="new_label_too_few", label=c, count=new_counts[c])

    # noise: confident learning against a model of the trusted data, out of sample
    known = [i for i in fails if "category" not in out[i] and records[i].correction in deployed_labels]
    if known and nm is not None:
        order = [deployed_labels.index(l) if l in deployed_labels else None for l in nm.labels]
        dep = np.stack([deployed_probs[known][:, j] if j is not None else np.zeros(len(known)) for j in order], 1)
        flags, p_corr = noisy_corrections(nm, log_emb[known], [records[i].correction for i in known], dep, settings.noise_ratio)
        for i, f, p in zip(known, flags, p_corr):
            if f:
                out[i].update(category="noise", reason="correction_unlikely", p_correction=round(float(p), 4))
    for i in fails:
        if "category" not in out[i]:
            out[i].update(category="fixable", reason="new_label" if records[i].correction not in deployed_labels else "failure")
    return out


def split_eval(records: list[LogRecord], tri: list[dict], regression_size: int, holdout_failures: float, seed: int = 0,
               tuning: float = 0.1) -> dict:
    """Hold out a regression set (trusted passes) and a share of fixable failures, stratified by label, and a
    tuning split (`tuning` of the remaining trusted passes and fixable failures, when there are 50 or more)
    that is kept out of training and out of the gate: interpolation weights are chosen on it."""
    rng = random.Random(seed)
    trusted = [i for i, t in enumerate(tri) if t["category"] == "trusted"]
    n_reg = min(regression_size, len(trusted) // 4)
    reg = _stratified(trusted, [records[i].prediction for i in trusted], n_reg, rng)
    fixable = [i for i, t in enumerate(tri) if t["category"] == "fixable"]
    n_hold = held_out_count(len(fixable), holdout_failures)
    hold = _stratified(fixable, [records[i].correction for i in fixable], n_hold, rng)
    taken = set(reg) | set(hold)
    rest_t = [i for i in trusted if i not in taken]
    rest_f = [i for i in fixable if i not in taken]
    tune = []
    if len(rest_t) + len(rest_f) >= 50 and tuning > 0:
        tune = (_stratified(rest_t, [records[i].prediction for i in rest_t], int(tuning * len(rest_t)), rng)
                + _stratified(rest_f, [records[i].correction for i in rest_f], int(tuning * len(rest_f)), rng))
    ids = lambda xs: [records[i].id for i in sorted(xs)]  # noqa: E731
    return {"regression": ids(reg), "held_out_failures": ids(hold), "tuning": ids(tune)}


def _stratified(idx: list[int], labels: list[str], n: int, rng: random.Random) -> list[int]:
    if n <= 0:
        return []
    by = defaultdict(list)
    for i, l in zip(idx, labels):
        by[l].append(i)
    for v in by.values():
        rng.shuffle(v)
    # round-robin over labels, so every label is represented before any gets a second member
    picked, queues = [], sorted(by.values(), key=len, reverse=True)
    while len(picked) < n and any(queues):
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop())
    return picked


def patterns(records: list[LogRecord], tri: list[dict], log_emb: np.ndarray, seed: int = 0) -> list[dict]:
    """Failure patterns over every failure with a correction, with their triage make-up."""
    idx = [i for i, r in enumerate(records) if r.verdict == "fail" and r.correction is not None]
    pats = cluster_failures([records[i].input for i in idx], log_emb[idx], [records[i].prediction for i in idx],
                            [records[i].correction for i in idx], seed=seed)
    out = []
    for p in pats:
        cats = Counter(tri[idx[m]]["category"] for m in p.members)
        main = cats.most_common(1)[0][0]
        out.append({"name": p.name, "size": p.size, "kind": main, "triage": dict(cats), "top_words": p.top_words,
                    "confusions": [list(c) for c in p.confusions], "examples": p.examples,
                    "ids": [records[idx[m]].id for m in p.members]})
    return out


def summary_counts(tri: list[dict]) -> dict:
    return {"categories": dict(Counter(t["category"] for t in tri)),
            "reasons": dict(Counter(f"{t['category']}:{t['reason']}" for t in tri))}


def confusions(records: list[LogRecord], tri: list[dict]) -> list[list]:
    idx = [i for i, t in enumerate(tri) if t["category"] == "fixable"]
    return [list(c) for c in confusion_pairs([records[i].prediction for i in idx], [records[i].correction for i in idx])]
