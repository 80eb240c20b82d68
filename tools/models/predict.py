"""One entry point for any model pioneer serves: which task it does, its answers, and the task's metrics, each
from the model's task kind (`tools.kinds`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.kinds import get
from tools.kinds.base import of_model


def model_task(model_dir: str | Path) -> str:
    """The name of the kind whose model `model_dir` is ("ner" for a token-classification model)."""
    return of_model(model_dir).name


def predict(model_dir: str | Path, texts: list[str]) -> list[Any]:
    """Labels, or entity span lists, one per text."""
    return of_model(model_dir).predict(model_dir, texts)


def metrics(task: str, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
    """The kind's metrics: accuracy and per-label scores, or entity precision, recall and F1 with the error kinds."""
    return get(task).metrics(texts, truth, pred)


def score_of(task: str, m: dict) -> float:
    """The one number a search selects on: accuracy, or entity F1."""
    return get(task).score(m)
