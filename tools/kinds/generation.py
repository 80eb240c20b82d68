"""Generation: free text in (a prompt, or chat messages), free text out; the model is a small causal LM used through
its chat template, LoRA-trained with the loss on the answer, merged into a plain transformers folder
(tools/models/causal.py). Right and wrong are a verifier's (tools/verify), chosen by the shape of the references:
JSON fields, a final answer, tests, else ROUGE-L. Cold start only, so far: production mode needs the diagnosis of
free-text failures (issue 16), and refuses generation logs with exit 2 until then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVAL_SIZE, DEV_SIZE = 120, 48  # decoding is the slow part on a CPU: ~1 s an answer for SmolLM2-135M on 2 cores


def _refs(value: Any) -> bool:
    """A list of right answers (several references, as DialogSum's test split has)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


class Generation:
    name, metric, unit, noun = "generation", "verifier score", "answers", "answers"
    metric_key = "verifier"  # the task spec's metric: the verifier the references' shape chooses
    words = r"\b(answer (the )?question|summari[sz]\w*|generate|write|translate|solve|code|extract \w+ (in)?to json|json)\b"
    min_labels = 0  # free text has no label set
    report_columns = (("score", "score"), ("judged right", "right"))
    default_base = "SmolLM2-135M-Instruct"  # what the base model "minilm" (the default) names for generation
    modes = ("cold_start",)  # production mode needs its diagnosis of free-text failures first
    refits = False  # the search's last attempt already saw all the training data (it continues the best one)
    chat_writes_examples = False  # a chat teacher writing (input, answer) pairs: not yet
    takes_paraphrases = False
    dropped = "answers judged right dropped"
    fixed_what = "{}"

    def train_config(self, values: dict, seed: int):
        from tools.models.causal import LoraTrainConfig

        return LoraTrainConfig(**values, seed=seed)

    def map_answer(self, answer: Any, labels: list[str], level: str) -> Any:
        """Any non-empty text answers a generation task (there are no labels to map onto)."""
        if isinstance(answer, str):
            return answer.strip() or None
        return answer if _refs(answer) else None

    def claims(self, output: Any) -> bool:
        """Free text, or a list of right answers; registered last, it takes what no other kind claims."""
        return (isinstance(output, str) and bool(output.strip())) or _refs(output)

    def check_output(self, value: Any, text: str, what: str) -> str | None:
        if self.claims(value):
            return None
        return f"{what} must be a non-empty text (or a list of right answers) for a generation task, got {json.dumps(value)[:60]}"

    def canonical(self, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def owns(self, model_dir: str | Path) -> bool:
        cfg = Path(model_dir) / "config.json"
        if not cfg.exists():
            return False
        try:
            arch = json.loads(cfg.read_text()).get("architectures") or []
        except (OSError, json.JSONDecodeError):
            return False
        return any(str(a).endswith("ForCausalLM") for a in arch)

    def check_model(self, model_dir: str | Path) -> list[str]:
        from tools.store.data import DataError

        if not self.owns(model_dir):
            raise DataError(Path(model_dir) / "config.json", 0, "the logs hold free text but this is not a causal LM (no *ForCausalLM architecture)")
        return []

    def predict(self, model_dir: str | Path, texts: list[str]) -> list[Any]:
        from tools.models.causal import generate

        return generate(model_dir, texts)

    def verifier(self, truth: list[Any]) -> str:
        from tools import verify

        return verify.choose("", truth)[0]

    def choose_metric(self, description: str, outputs: list[Any]) -> tuple[str, str]:
        """The verifier the answers' shape allows (the metrics choose it the same way), and why."""
        from tools import verify

        return verify.choose(description, outputs)

    _last: tuple[str, dict] = ("", {})  # the last scoring: the scorer asks for metrics, then confusions, of the same answers

    def _scored(self, truth: list[Any], pred: list[Any]) -> tuple[str, dict]:
        """The verifier and its scoring of `pred`, computed once for the same answers (a code verifier runs a sandbox
        an answer)."""
        from tools import verify

        key = json.dumps([truth, pred])
        last = self._last  # one read: a run on another thread may replace it meanwhile
        if last[0] != key:
            name = self.verifier(truth)
            last = (key, {"name": name, **verify.score(name, pred, truth)})
            self._last = last
        return last[1]["name"], last[1]

    def metrics(self, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
        """The verifier's mean score and share judged right, with the kinds of the failures."""
        from tools.production.free_text import failure_kinds

        name, s = self._scored(truth, pred)
        wrong = [(p, t if isinstance(t, str) else t[0]) for p, t, v in zip(pred, truth, s["verdicts"]) if not v.ok]
        return {"verifier": name, "score": round(s["score"], 4), "right": round(s["right"], 4), "n": len(pred),
                "failure_kinds": failure_kinds([p for p, _ in wrong], [t for _, t in wrong], name)}

    def score(self, metrics: dict) -> float:
        return metrics["score"]

    def judged(self, truth: list[Any], pred: list[Any]) -> list[bool]:
        return [v.ok for v in self._scored(truth, pred)[1]["verdicts"]]

    def labels_of(self, answer: Any) -> list[str]:
        return []

    def confusions(self, texts: list[str], truth: list[Any], pred: list[Any]) -> list[tuple]:
        """The kinds of the wrong answers (wrong answer, too long, bad format, ...) with their counts."""
        return [(k, "", n) for k, n in self.metrics(texts, truth, pred)["failure_kinds"].items()]

    def train(self, base_model: str | None, texts: list[str], targets: list[Any], labels: list[str], out_dir: str | Path, cfg,
              progress=None, teacher=None, start: str | Path | None = None) -> dict:
        """LoRA on `base_model` ('minilm', the default, means the embedded SmolLM2 for generation), or on the causal LM
        folder `start`; a list of right answers trains on its first."""
        from tools.models.causal import resolve_generator, train_causal

        base = resolve_generator(None if base_model in (None, "minilm") else base_model)
        pairs = [(t, y if isinstance(y, str) else y[0]) for t, y in zip(texts, targets)]
        return train_causal(base, pairs, out_dir, cfg, progress=progress, start=start)

    def evaluation_set(self, train: list[tuple], test: list[tuple], spec: dict, seed: int):
        from tools.coldstart.evalset import build_free_text

        return build_free_text(train, test, max_eval=EVAL_SIZE, max_dev=DEV_SIZE, seed=seed)

    def baseline(self, texts: list[str], train: list[tuple], labels: list[str], base_model: str) -> tuple[list[Any], str]:
        """The untrained base model's answers, as long as the training answers allow (the same limit training sets)."""
        from transformers import AutoTokenizer

        from tools.models.causal import answer_budget, generate, resolve_generator

        base = resolve_generator(None if base_model in (None, "minilm") else base_model)
        limit = answer_budget([y if isinstance(y, str) else y[0] for _, y, *_ in train], AutoTokenizer.from_pretrained(base))
        return generate(base, texts, max_new_tokens=limit), f"the untrained base model ({Path(base).name}), greedy, up to {limit} tokens"

    def first_search(self, configs: list[dict], n_train: int) -> list[dict]:
        from tools.coldstart.free_search import first

        return first(configs, n_train)

    def revise_search(self, best: dict, iteration: int, confusions: list[tuple]) -> tuple[list[dict], str]:
        from tools.coldstart.free_search import revise

        return revise(best, iteration)

    # production mode: refused before any of these is reached (`modes`); they come with the free-text diagnosis

    def _production(self, *_, **__):
        raise NotImplementedError("production mode for generation needs the free-text diagnosis (issue 16)")

    log_figures = churn_by_margin = gate_evidence = deployed_probs = teacher = diagnose = mix_maker = first_strategies = _production

    def churn(self, ws, model_dir: str | Path, texts: list[str]) -> list[float] | None:
        return None

    def answers_with_churn(self, model_dir: str | Path, texts: list[str]) -> tuple[list[Any], list[float] | None]:
        return self.predict(model_dir, texts), None

    def calibrate(self, model_dir: str | Path, texts: list[str], truth: list[Any]) -> dict | None:
        return None

    def apply_calibration(self, model_dir: str | Path, chosen: dict) -> None:
        return None

