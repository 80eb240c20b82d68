"""Generation: free text in (a prompt, or chat messages), free text out; the model is a small causal LM used through
its chat template, LoRA-trained with the loss on the answer, merged into a plain transformers folder
(tools/models/causal.py). Right and wrong are a verifier's (tools/verify), chosen by the shape of the references:
JSON fields, a final answer, tests, else ROUGE-L. In production the verifier is the judge of the gate: a pass flips
when the verifier fails the new answer against the logged one, a held-out failure is fixed when it passes against
its correction (tools/gate.py reads answers through `judged`); a pass's churn comes from the deployed model's least
token margin on its logged answer; triage and failure kinds are in tools/production/free_text.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.kinds.base import Diagnosis, embeddings
from tools.store.artifacts import REGRESSION_MARGINS

EVAL_SIZE, DEV_SIZE = 120, 48  # decoding is the slow part on a CPU: ~1 s an answer for SmolLM2-135M on 2 cores


SHAPE_SHARE = 0.9  # the share of the references that must have a shape for its verifier to judge them all
REPRODUCE = 16  # logged answers the deployed model is asked again, to check the logs came from it (~1 s each on a CPU)


def _refs(value: Any) -> bool:
    """A list of right answers (several references, as DialogSum's test split has)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


class Generation:
    name, metric, unit, noun = "generation", "verifier score", "answers", "answers"
    first_attempts = None  # replaced by its own first slice (tools/coldstart/free_search.py)
    metric_key = "verifier"  # the task spec's metric: the verifier the references' shape chooses
    words = r"\b(answer (the )?question|summari[sz]\w*|generate|write|translate|solve|code|extract \w+ (in)?to json|json)\b"
    min_labels = 0  # free text has no label set
    report_columns = (("score", "score"), ("judged right", "right"))
    default_base = "SmolLM2-135M-Instruct"  # what the base model "minilm" (the default) names for generation
    modes = ("production", "cold_start")
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
        """The verifier nine in ten of the references' shape settles (a production run's corrections hold noise)."""
        from tools import verify

        return verify.choose("", truth, share=SHAPE_SHARE)[0]

    def choose_metric(self, description: str, outputs: list[Any]) -> tuple[str, str]:
        """The verifier the answers' shape allows (the metrics choose it the same way), and why."""
        from tools import verify

        return verify.choose(description, outputs, share=SHAPE_SHARE)

    _last: tuple[str, dict] = ("", {})  # the last scoring: the scorer asks for metrics, then confusions, of the same answers

    def _scored(self, truth: list[Any], pred: list[Any]) -> tuple[str, dict]:
        """The verifier and its scoring of `pred`, computed once for the same answers (a code verifier runs a sandbox
        an answer)."""
        from tools import verify

        pred = [p if isinstance(p, str) or not _refs(p) else p[0] for p in pred]  # a list of right answers said as its first
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

        # a warm start needs no base: the embedded SmolLM2 may not even be installed where a deployed model is improved
        base = str(start) if start else resolve_generator(None if base_model in (None, "minilm") else base_model)
        pairs = [(t, y if isinstance(y, str) else y[0]) for t, y in zip(texts, targets)]
        return train_causal(base, pairs, out_dir, cfg, progress=progress, start=start)

    def evaluation_set(self, train: list[tuple], test: list[tuple], spec: dict, seed: int):
        from tools.coldstart.evalset import build_free_text

        return build_free_text(train, test, max_eval=EVAL_SIZE, max_dev=DEV_SIZE, seed=seed)

    def probe(self, train: list[tuple], dev: list[tuple], base_model: str, seed: int) -> float | None:
        return None  # no probe for free text: the search keeps the paper's target

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

    def revise_search(self, best: dict, iteration: int, confusions: list[tuple], tried: list[dict]) -> tuple[list[dict], str]:
        from tools.coldstart.free_search import revise

        return revise(best, iteration)

    # production mode: the logged answers judged by the verifier; no re-run of the deployed model over all the logs

    def diagnose(self, records: list, parent: list, labels: list[str], model: str | Path, ws: Any, *, base_model: str,
                 regression_size: int, holdout_failures: float, seed: int, say) -> Diagnosis:
        """The verifier the trusted answers' shape settles; triage (poison; noise: corrections the verifier rejects
        or that contradict the trusted data; fixable); the regression set and held-out failures; failure patterns
        by input cluster and failure kind. The deployed model answers a sample of the logs again, to check they are its."""
        from tools.production import diagnosis as dx
        from tools.production import free_text as ft

        refs = [e.output for e in parent] or [r.prediction for r in records if r.verdict == "pass"]
        verifier = self.verifier(refs + [r.correction for r in records if r.verdict == "fail" and r.correction])
        say(f"the verifier: {verifier}; re-running the deployed model on {min(REPRODUCE, len(records))} logged requests")
        sample = records[:REPRODUCE]
        again = self.predict(model, [r.input for r in sample])
        agree = sum(a.strip() == str(r.prediction).strip() for a, r in zip(again, sample)) / max(1, len(sample))
        log_emb, parent_emb = embeddings(ws, records, parent)
        say("triage: poison, noise (corrections the verifier rejects or the trusted data contradicts), fixable")
        tri = ft.triage(records, parent, log_emb, parent_emb, dx.tokenizer_vocab(None), verifier)
        splits = dx.split_eval(records, tri, regression_size, holdout_failures, seed, tuning=0.0)
        usable = [r for r, t in zip(records, tri) if t["category"] in ("trusted", "fixable")]
        baseline = self.metrics([r.input for r in usable], [r.label for r in usable], [r.prediction for r in usable])
        kinds_ = baseline["failure_kinds"]
        return Diagnosis(tri, splits, ft.patterns(records, tri, log_emb, verifier, seed),
                         {"verifier": verifier, "deployed_accuracy_on_usable_logs": baseline["right"], "baseline_metrics": baseline,
                          "served_predictions_reproduced": round(agree, 4), "reproduced_on": len(sample), "confusions": []},
                         "; failures: " + (", ".join(f"{k.replace('_', ' ')} {n}" for k, n in kinds_.items()) or "none"))

    def mix_maker(self, rd, out: set[str], seed: int, paraphrases: list[dict]):
        """`make(cand) -> (rows, composition)`: the fixable failures' corrections `gold_repeat` times, the trusted passes
        and parent data with their answers (a share `replay_fraction`, and at most about `replay_ratio` times the
        correction rows when the mix sets it), nothing from `out`."""
        from tools.production.entities import build_mix

        gold = [(r.input, r.correction, r.id) for r in rd.records if rd.category(r.id) == "fixable" and r.id not in out]
        trusted = [(r.input, r.prediction, r.id) for r in rd.records if rd.category(r.id) == "trusted" and r.id not in out]
        trusted += [(e.input, e.output if isinstance(e.output, str) else e.output[0], f"parent:{e.line}") for e in rd.parent]
        exclude = {" ".join(rd.by_id[i].input.lower().split()) for i in out}

        def make(cand: dict) -> tuple[list[dict], dict]:
            m = cand["config"]["mix"]
            share = m["replay_fraction"]
            if m.get("replay_ratio") is not None:  # replay capped at that many times the correction rows
                share = min(share, m["replay_ratio"] * len(gold) * max(1, m["gold_repeat"]) / max(1, len(trusted)))
            mix = build_mix(gold, trusted, [], m["gold_repeat"], 0, share, exclude, seed=seed)
            return mix.rows, {"composition": mix.composition, "dropped": {}}

        return make

    def first_strategies(self, diagnosis: dict, epochs: int, learning_rate: float) -> list[dict]:
        """Two warm starts (LoRA on the deployed model) at a gentle and a bold learning rate; the encoders' `epochs` and
        `learning_rate` settings do not apply to a causal LM."""
        from tools.production.strategies import initial_generation

        return initial_generation()

    def revise_strategies(self, base: dict, gate: dict, max_flips: int, iteration: int) -> tuple[list[dict], str]:
        from tools.production.strategies import revise_generation

        return revise_generation(base, gate, iteration)

    def gate_evidence(self, reg_truth: list, reg_before: list, reg_after: list, fail_truth: list, fail_before: list, fail_after: list,
                      tolerance: float) -> tuple[float | None, dict[str, float], float]:
        """(the share of held-out failures the verifier passes now, no label drops: free text has no labels, the share
        of the regression set's passes the verifier still passes against their logged answers). The gate hands over
        answers already judged (`tools.gate.as_judged`: a right answer is its truth), so right means equal here and
        the verifier does not run twice."""
        fixed = round(sum(a == t for a, t in zip(fail_after, fail_truth)) / len(fail_truth), 4) if fail_truth else None
        return fixed, {}, round(sum(a == t for a, t in zip(reg_after, reg_truth)) / max(1, len(reg_truth)), 4)

    def log_figures(self, texts: list[str], truth: list[Any], pred: list[Any], reg_texts: list[str], reg_truth: list[Any],
                    reg_pred: list[Any]) -> dict:
        """How a report shows a generator on the usable logs and the regression set: the share the verifier passes,
        its mean score, the failure kinds."""
        m = self.metrics(texts, truth, pred)
        reg = sum(self.judged(reg_truth, reg_pred)) / max(1, len(reg_truth))
        return {"accuracy_on_logs": m["right"], "score_on_logs": m["score"], "regression_accuracy": round(reg, 4), "per_label_recall": {},
                "failure_kinds": m["failure_kinds"], "verifier": m["verifier"]}

    def churn_by_margin(self) -> tuple[tuple[float, float], ...]:
        """The measured chance a retrain flips a right generated answer, by its least certain token's margin."""
        from tools.gate import GENERATION_CHURN_BY_MARGIN

        return GENERATION_CHURN_BY_MARGIN

    def deployed_probs(self, ws, model_dir: str | Path, texts: list[str]):
        return None

    def teacher(self, ws, deployed: str | Path, texts: list[str], targets: list[Any], labels: list[str]):
        return None  # a generator is kept close by replaying its passes, not by distillation

    def churn(self, ws, model_dir: str | Path, texts: list[str], answers: list[Any] | None = None) -> list[float] | None:
        """Each logged answer's churn, from the deployed model's least token margin on it (computed once a run)."""
        import numpy as np

        from tools.gate import token_churn
        from tools.models.causal import answer_margins

        if not texts:
            return []
        if answers is None:
            return None
        margins = ws.array(REGRESSION_MARGINS, lambda: np.array(answer_margins(model_dir, texts, [str(a) for a in answers])))
        return token_churn(margins) if len(margins) == len(texts) else None

    def answers_with_churn(self, model_dir: str | Path, texts: list[str]) -> tuple[list[Any], list[float] | None]:
        """A generator's answers and their churn, from its least token margin on each."""
        from tools.gate import token_churn
        from tools.models.causal import answer_margins

        if not texts:
            return [], None
        answers = self.predict(model_dir, texts)
        return answers, token_churn(answer_margins(model_dir, texts, answers))

    def calibrate(self, model_dir: str | Path, texts: list[str], truth: list[Any]) -> dict | None:
        return None

    def apply_calibration(self, model_dir: str | Path, chosen: dict) -> None:
        return None

