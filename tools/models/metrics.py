"""Metrics for classification and the flip counts the regression gate is made of."""

from __future__ import annotations

from collections.abc import Sequence


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict:
    """Accuracy, macro F1 and per-label precision/recall/F1/support (scikit-learn)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if not y_true:
        return {"accuracy": None, "macro_f1": None, "n": 0, "per_label": {}}
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i, l in enumerate(labels) if s[i] > 0]
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(sum(f[i] for i in present) / max(1, len(present))), 4),
        "n": len(y_true),
        "per_label": {labels[i]: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                                  "f1": round(float(f[i]), 4), "support": int(s[i])} for i in range(len(labels))},
    }


def negative_flips(y_true: Sequence[str], before: Sequence[str], after: Sequence[str]) -> list[int]:
    """Indices that were right before and are wrong after."""
    return [i for i, (t, b, a) in enumerate(zip(y_true, before, after)) if b == t and a != t]


def fix_rate(y_true: Sequence[str], after: Sequence[str]) -> float | None:
    """Share of (previously failed) examples that the new model gets right."""
    if not y_true:
        return None
    return round(sum(t == a for t, a in zip(y_true, after)) / len(y_true), 4)


def label_drops(before: dict, after: dict, tolerance: float, min_support: int = 5) -> dict[str, float]:
    """Labels whose recall fell by more than `tolerance` (from two `classification_metrics` results)."""
    drops = {}
    for label, b in before.get("per_label", {}).items():
        a = after.get("per_label", {}).get(label)
        if a is None or b["support"] < min_support:
            continue
        if round(b["recall"] - a["recall"], 6) > tolerance:
            drops[label] = round(b["recall"] - a["recall"], 4)
    return drops


def traffic_estimate(right: Sequence[bool], truth: Sequence[str], passed: Sequence[bool], n_passes: int, n_failures: int) -> dict:
    """A model's accuracy on the traffic the logs came from, estimated from held-out log lines only.

    The held-out lines are drawn from the passes and the failures at different rates (a regression set of
    passes, a share of the failures), so each is weighted by how many lines of its kind it stands for: a pass
    by `n_passes` / held-out passes, a failure by `n_failures` / held-out failures. `right[i]` says whether the
    model answers line i right (`truth[i]` its label; for spans, a hashable key). Returns the estimate, the
    per-label recall estimated the same way, and the lines it rests on."""
    held_p, held_f = sum(passed), len(passed) - sum(passed)
    if not right or (held_p == 0 and n_passes) or (held_f == 0 and n_failures):
        return {"accuracy": None, "per_label_recall": {}, "n": len(right)}
    w = [(n_passes / held_p) if p else (n_failures / held_f) for p in passed]
    per: dict[str, list[float]] = {}
    for ok, t, wi in zip(right, truth, w):
        acc = per.setdefault(t, [0.0, 0.0])
        acc[0] += wi * ok
        acc[1] += wi
    return {"accuracy": round(sum(wi * ok for ok, wi in zip(right, w)) / sum(w), 4),
            "per_label_recall": {t: round(a / b, 4) for t, (a, b) in sorted(per.items())}, "n": len(right)}
