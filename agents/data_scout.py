"""Data scout. In production mode: ingest and validate the logs, the deployed model and its parent data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from langgraph.runtime import Runtime

from agents.progress import emit
from graph.context import Context
from graph.state import State
from tools.classifier import load_labels
from tools.data import DataError, detect_task, load_examples, load_logs
from tools.lineage import parent_data_of


def check_model(model_dir: str) -> list[str]:
    """The deployed model's labels; DataError when the folder is not a classification model."""
    p = Path(model_dir)
    if not (p / "config.json").exists():
        raise DataError(p, 0, "not a model folder (no config.json)")
    labels = load_labels(p)
    if not labels:
        raise DataError(p / "config.json", 0, "no id2label: not a sequence-classification model")
    return labels


def validate_inputs(model: str, logs: str, train_data: str | None, skip_bad: bool = False) -> str:
    """Check a production run's inputs before anything is written; the task, or DataError naming file, line
    and reason."""
    loaded = load_logs(logs, task=None, skip_bad=skip_bad)
    task = detect_task(loaded.records)
    if task != "classification":
        raise DataError(logs, 0, f"task '{task}' is not supported in production mode yet (classification only)")
    load_logs(logs, task=task, skip_bad=skip_bad)  # validates output shapes for the task
    check_model(model)
    if train_data:
        load_examples(train_data, task=task)
    return task


def ingest(state: State, runtime: Runtime[Context]) -> dict:
    loaded = load_logs(state["logs"], task=None, skip_bad=bool(state.get("skip_bad_lines")))
    records = loaded.records
    task = detect_task(records)
    if task != "classification":
        raise DataError(state["logs"], 0, f"task '{task}' is not supported in production mode yet (classification only)")
    labels = check_model(state["model"])
    train_data = state.get("train_data")
    lineage = None if train_data else parent_data_of(state["model"])
    if lineage:  # a model pioneer promoted carries the curated data it came from
        train_data = str(lineage.resolve())
        emit("ingest", f"no parent data given: using the deployed model's lineage ({lineage})")
    parent = load_examples(train_data) if train_data else []
    new = Counter(r.correction for r in records if r.verdict == "fail" and r.correction is not None and r.correction not in labels)
    info = {
        "logs": len(records),
        "passed": sum(r.verdict == "pass" for r in records),
        "failed": sum(r.verdict == "fail" for r in records),
        "failed_without_correction": sum(r.verdict == "fail" and r.correction is None for r in records),
        "parent_examples": len(parent),
        "deployed_labels": len(labels),
        "new_labels": dict(new),
        "skipped_lines": [str(e) for e in loaded.skipped],
    }
    emit("ingest", f"{info['logs']} logs ({info['failed']} failed), {len(parent)} parent examples, {len(labels)} labels"
         + (f", {len(loaded.skipped)} bad lines skipped" if loaded.skipped else ""))
    info["parent_from_lineage"] = bool(lineage)
    return {"task": task, "labels": labels, "ingest": info, "train_data": train_data}
