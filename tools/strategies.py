"""Training strategies (data mix plus hyperparameters) and the edits the planner makes when one fails."""

from __future__ import annotations

import copy
from dataclasses import asdict

from tools.classifier import TrainConfig
from tools.curriculum import MixSpec


def strategy(name: str, epochs: int = TrainConfig.epochs, learning_rate: float = TrainConfig.learning_rate, **overrides) -> dict:
    """A named configuration: {"name", "mix": MixSpec fields, "train": TrainConfig fields}."""
    mix = asdict(MixSpec())
    train = {k: v for k, v in asdict(TrainConfig(epochs=epochs, learning_rate=learning_rate, distill_weight=0.8)).items() if k != "seed"}
    for k, v in overrides.items():
        (mix if k in mix else train)[k] = v
    return {"name": name, "mix": mix, "train": train}


def initial(epochs: int = TrainConfig.epochs, learning_rate: float = TrainConfig.learning_rate) -> list[dict]:
    """The two configurations of a first iteration when memory has nothing better."""
    return [
        strategy("retain-distill", epochs, learning_rate),
        strategy("contrastive", epochs, round(learning_rate * 0.75, 8), hard_negatives=5, gold_repeat=2, distill_weight=0.5),
    ]


def initial_entities(dominant_error: str, epochs: int = TrainConfig.epochs, learning_rate: float = TrainConfig.learning_rate) -> list[dict]:
    """Entity extraction's first iteration, after the diagnosis's dominant error: recall errors get more gold;
    precision errors get hard negatives (look-alike non-entities) and a tuned decision threshold."""
    def ner(name: str, **mix) -> dict:
        base = strategy(name, epochs, learning_rate, distill_weight=0.0, max_length=128, augment=0, **mix)
        return {**base, "tune_threshold": dominant_error == "precision"}

    if dominant_error == "precision":
        return [ner("gold-replay", gold_repeat=1, hard_negatives=0), ner("precision-first", gold_repeat=1, hard_negatives=3)]
    return [ner("gold-replay", gold_repeat=1, hard_negatives=0), ner("recall-first", gold_repeat=3, hard_negatives=1)]


def revise(base: dict, gate: dict, max_flips: int, iteration: int) -> tuple[list[dict], str]:
    """Two new configurations derived from `base` according to what its gate result says went wrong."""
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    distill = bool(base["train"].get("distill_weight"))  # entity extraction trains without a teacher
    flipped = gate["negative_flips"] > max_flips or gate["slices"].get("previous_version", {}).get("negative_flips", 0) > max_flips
    if flipped and not distill:
        why = "too many negative flips: gentler updates (lower learning rates), and more hard negatives"
        a["train"]["learning_rate"] = round(a["train"]["learning_rate"] * 0.5, 8)
        b["train"]["learning_rate"] = round(b["train"]["learning_rate"] * 0.7, 8)
        b["mix"]["hard_negatives"] = base["mix"]["hard_negatives"] + 2
    elif flipped:
        why = "too many negative flips: keep more of the deployed behaviour (stronger distillation, more replay, gentler updates)"
        a["train"]["distill_weight"] = min(0.95, a["train"]["distill_weight"] + 0.1)
        a["mix"]["replay_fraction"] = 0.2
        b["train"]["learning_rate"] = round(b["train"]["learning_rate"] * 0.7, 8)
        b["train"]["distill_weight"] = min(0.95, b["train"]["distill_weight"] + 0.1)
        b["mix"]["hard_negatives"] = base["mix"]["hard_negatives"] + 2
    elif gate["slices"].get("label_drops"):
        why = "labels lost recall: more hard negatives and balance"
        a["mix"]["hard_negatives"] += 2
        b["mix"]["hard_negatives"] += 2
        b["mix"]["max_label_ratio"] = 2.0
    else:
        why = "too few held-out failures fixed: more gold, longer training"
        a["mix"]["gold_repeat"] += 1
        a["mix"]["augment"] += 1
        b["train"]["epochs"] += 2
        if distill:
            b["train"]["distill_weight"] = max(0.2, b["train"]["distill_weight"] - 0.2)
    a["name"], b["name"] = f"{base['name']}+r{iteration}a", f"{base['name']}+r{iteration}b"
    return [a, b], why


def score(entry: dict) -> tuple:
    """How good an attempt is: gate passed first, then failures fixed, then fewer flips."""
    g = entry["gate"]
    return (g["passed"], g["fixed"] or 0.0, -g["negative_flips"])
