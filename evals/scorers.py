"""Pure scorers: from predictions and the answer key to the numbers the benchmarks report."""

from __future__ import annotations

from tools.fixtures.simulate import triage_scores  # noqa: F401 - the simulations own their answer key; the benchmarks score with it here
from tools.models.metrics import classification_metrics, negative_flips


def test_scores(truth: list[str], deployed: list[str], candidate: list[str]) -> dict:
    return {"test_accuracy": classification_metrics(truth, candidate)["accuracy"],
            "test_flips": len(negative_flips(truth, deployed, candidate))}


def entity_test_scores(texts: list[str], truth: list[list[dict]], deployed: list[list[dict]], candidate: list[list[dict]]) -> dict:
    """Entity F1, precision and recall, the error kinds, and flipped sentences (exactly right before, not after)."""
    from tools.kinds.spans import canonical
    from tools.production.entities import log_metrics

    m = log_metrics(texts, truth, candidate)
    t, b, a = ([canonical(s) for s in rows] for rows in (truth, deployed, candidate))
    return {"test_f1": m["f1"], "test_precision": m["precision"], "test_recall": m["recall"],
            "test_flips": len(negative_flips(t, b, a)), "test_errors": m["errors"]["total"]}


def fixable_fixed(logs: list[dict], key: dict[str, dict], pred: dict[str, str]) -> float:
    """Share of logged failures whose correction is right (per the key) that the model now gets right."""
    ids = [l["id"] for l in logs if l["verdict"] == "fail" and key[l["id"]]["noise"] is None]
    return round(sum(pred[i] == key[i]["truth"] for i in ids) / max(1, len(ids)), 4)
