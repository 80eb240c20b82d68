"""What the two encoder kinds (classification, entities) share: fine-tuned encoders trained with
tools.models.classifier's TrainConfig, answers right only when they equal the truth, both modes served."""

from __future__ import annotations

from typing import Any


class EncoderKind:
    modes = ("production", "cold_start")
    refits = True  # cold start refits the search's best configuration on the training and development splits when time allows
    metric = metric_key = name = ""
    first_attempts = None  # the search's two learning rates
    default_base = "all-MiniLM-L6-v2"  # what the base model "minilm" (the default) names for this kind

    def train_config(self, values: dict, seed: int):
        from tools.models.classifier import TrainConfig

        return TrainConfig(**values, seed=seed)

    def choose_metric(self, description: str, outputs: list[Any]) -> tuple[str, str]:
        return self.metric_key, f"{self.metric}, the metric of {self.name}"

    def judged(self, truth: list[Any], pred: list[Any]) -> list[bool]:
        """Each answer right or wrong: exactly the truth (a span list in any order)."""
        from tools.kinds.spans import same_answer

        return [same_answer(p, t) for p, t in zip(pred, truth)]

    def revise_strategies(self, base: dict, gate: dict, max_flips: int, iteration: int) -> tuple[list[dict], str]:
        from tools.production.strategies import revise

        return revise(base, gate, max_flips, iteration)
