"""One entry point for any model pioneer serves: which task it does, its answers, and the task's metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def model_task(model_dir: str | Path) -> str:
    """"ner" for a token-classification model, else "classification"."""
    from tools.tagger import is_tagger

    return "ner" if is_tagger(model_dir) else "classification"


def predict(model_dir: str | Path, texts: list[str]) -> list[Any]:
    """Labels, or entity span lists, one per text."""
    if model_task(model_dir) == "ner":
        from tools.tagger import predict_spans

        return predict_spans(model_dir, texts)
    from tools.classifier import predict as predict_labels

    return predict_labels(model_dir, texts)


def metrics(task: str, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
    """Accuracy and per-label scores, or entity precision, recall and F1 with the error-kind breakdown."""
    if task == "ner":
        from tools.entities import log_metrics

        return log_metrics(texts, truth, pred)
    from tools.metrics import classification_metrics

    return classification_metrics(truth, pred)


def score_of(task: str, m: dict) -> float:
    """The one number a search selects on: accuracy, or entity F1."""
    return m["f1"] if task == "ner" else m["accuracy"]
