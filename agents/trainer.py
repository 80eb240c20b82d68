"""Trainer: one model per planned configuration, always from the base model.

The deployed model is a teacher only (its soft labels on examples it got right; for a tagger, on the words
whose tag it got right). A candidate that was already trained (a resumed run) is not trained again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from langgraph.runtime import Runtime

from agents.progress import emit
from agents.run_data import settings
from graph.context import Context
from graph.state import State
from tools.classifier import TrainConfig, predict_proba, train_classifier
from tools.data import read_jsonl
from tools.tagger import tag_set, teacher_probs, train_tagger


def train(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    plan = state["plan"]
    labels = _label_set(state, plan)
    out = []
    for cand in plan["configs"]:
        model_dir = Path(ctx.run_dir) / "candidates" / f"{plan['iteration']}-{cand['name']}"
        summary_file = model_dir / "training_summary.json"
        if summary_file.exists():
            emit("train", f"{cand['name']}: already trained, reusing {model_dir}")
            summary = json.loads(summary_file.read_text())
        else:
            rows = read_jsonl(cand["mix_file"])
            texts, targets = [r["input"] for r in rows], [r["output"] for r in rows]
            cfg = TrainConfig(**cand["config"]["train"], seed=ctx.seed)
            emit("train", f"{cand['name']}: {len(texts)} examples, {cfg.epochs} epochs, lr {cfg.learning_rate}")
            name = cand["name"]
            progress = lambda e, name=name: emit("train", f"{name} step {e['step']}/{e['total']} loss {e['loss']}", candidate=name, **e)  # noqa: E731
            if state.get("task") == "ner":
                teacher = teacher_probs(state["model"], texts, targets, tag_set(labels)) if cfg.distill_weight > 0 else None
                summary = train_tagger(ctx.base_model, texts, targets, labels, model_dir, cfg, progress=progress, teacher=teacher)
            else:
                teacher = _teacher(state["model"], texts, targets, labels) if cfg.distill_weight > 0 else None
                summary = train_classifier(ctx.base_model, texts, targets, labels, model_dir, cfg, teacher, progress=progress)
        out.append({**cand, "model_dir": str(model_dir), "training": {k: summary[k] for k in ("examples", "curve", "seconds")}})
    return {"plan": {**plan, "configs": out}}


def _label_set(state: State, plan: dict) -> list[str]:
    """The deployed labels (entity types), plus new ones the mixes teach (learned when the logs hold enough of them)."""
    labels = list(state["labels"])
    for cand in plan["configs"]:
        for r in read_jsonl(cand["mix_file"]):
            for label in ([s["label"] for s in r["output"]] if state.get("task") == "ner" else [r["output"]]):
                if label not in labels:
                    labels.append(label)
    return labels


def _teacher(deployed: str, texts: list[str], targets: list[str], labels: list[str]) -> np.ndarray:
    """The deployed model's probabilities, mapped onto `labels`, on the rows where it is right (zero elsewhere)."""
    probs, dep_labels = predict_proba(deployed, texts)
    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    for j, l in enumerate(dep_labels):
        if l in labels:
            out[:, labels.index(l)] = probs[:, j]
    right = np.array([dep_labels[k] == t for k, t in zip(probs.argmax(1), targets)])
    return out * right[:, None]
