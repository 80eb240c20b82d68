"""Classification: a text in, one label out (`AutoModelForSequenceClassification` with `id2label`); scored by
accuracy; a flip is a right answer whose label changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.kinds.base import Diagnosis, embeddings
from tools.kinds.encoder import EncoderKind
from tools.store.artifacts import DEPLOYED_PROBS, LOG_EMB, PARENT_EMB


MAX_LABEL_WORDS = 6  # "balance not updated after bank transfer" is a label; a summary is not


class Classification(EncoderKind):
    name, metric, unit, noun = "classification", "accuracy", "answers", "labels"
    metric_key = "accuracy"  # the task spec's metric
    words = r"\b(classif\w*|categori[sz]\w*|intent\w*|sentiment|label\w*|detect (the )?(type|topic)|topic|which (type|kind|category))\b"
    min_labels = 2  # a task of fewer labels is refused
    # the linear probe's head on the mean-pooled embedding, fine-tuned (tools/models/mean_head.py), beside the plain
    # recipe: on 30 Banking77 intents 0.9508 against 0.9383 (one seed each, session 23)
    first_attempts = (("probe-head", {"head": "mean-probe", "learning_rate": 3e-5}), ("lr1e-4", {"learning_rate": 1e-4}))
    report_columns = (("accuracy", "accuracy"), ("macro F1", "macro_f1"))  # the cold-start report's results table

    def map_answer(self, answer: Any, labels: list[str], level: str) -> Any:
        """A source's label on the task's labels; None when the task has no such label."""
        from tools.coldstart.taskspec import map_label

        return map_label(answer, labels, level)

    def claims(self, output: Any) -> bool:
        """Whether a logged answer has this kind's shape: a label, a short name (a sentence of free text is not one:
        data whose answers are sentences is generation's)."""
        return (isinstance(output, str) and len(output.split()) <= MAX_LABEL_WORDS and len(output) <= 80
                and not output.lstrip().startswith(("{", "[")))  # a JSON answer is structured text, generation's

    def check_output(self, value: Any, text: str, what: str) -> str | None:
        """Why `value` is no valid answer to `text` (None when it is)."""
        import json

        if not isinstance(value, str) or not value.strip():
            return f"{what} must be a non-empty label string for a classification task, got {json.dumps(value)[:60]}"
        return None

    def canonical(self, value: Any) -> Any:
        return value

    def owns(self, model_dir: str | Path) -> bool:
        from tools.models.tagger import is_tagger

        return (Path(model_dir) / "config.json").exists() and not is_tagger(model_dir)

    def check_model(self, model_dir: str | Path) -> list[str]:
        from tools.models.classifier import load_labels
        from tools.models.tagger import is_tagger
        from tools.store.data import DataError

        p = Path(model_dir)
        if is_tagger(p):
            raise DataError(p / "config.json", 0, "the logs hold labels but this is a token-classification (entity) model")
        labels = load_labels(p)
        if not labels:
            raise DataError(p / "config.json", 0, "no id2label: not a sequence-classification model")
        return labels

    def predict(self, model_dir: str | Path, texts: list[str]) -> list[Any]:
        from tools.models.classifier import predict

        return predict(model_dir, texts)

    def metrics(self, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
        from tools.models.metrics import classification_metrics

        return classification_metrics(truth, pred)

    def score(self, metrics: dict) -> float:
        return metrics["accuracy"]

    def log_figures(self, texts: list[str], truth: list[Any], pred: list[Any], reg_texts: list[str], reg_truth: list[Any],
                    reg_pred: list[Any]) -> dict:
        """How a report shows a model on the usable logs and on the regression set."""
        from tools.models.metrics import classification_metrics

        m = classification_metrics(truth, pred)
        return {"accuracy_on_logs": m["accuracy"], "macro_f1_on_logs": m["macro_f1"],
                "regression_accuracy": classification_metrics(reg_truth, reg_pred)["accuracy"],
                "per_label_recall": {k: v["recall"] for k, v in m["per_label"].items()}}

    def labels_of(self, answer: Any) -> list[str]:
        return [str(answer)]

    dropped = "label recall dropped"  # the gate's label_drops rule, as a person reads it
    fixed_what = "{}"  # what the absolute gate's share fixed counts: the held-out failures themselves

    def churn_by_margin(self) -> tuple[tuple[float, float], ...]:
        """The measured chance a retrain flips a right answer, by the deployed model's top-2 margin."""
        from tools.gate import CHURN_BY_MARGIN

        return CHURN_BY_MARGIN

    def gate_evidence(self, reg_truth: list, reg_before: list, reg_after: list, fail_truth: list, fail_before: list, fail_after: list,
                      tolerance: float) -> tuple[float | None, dict[str, float], float]:
        """(the share of held-out failures fixed, labels whose recall dropped past `tolerance`, regression-set accuracy)."""
        from tools.models.metrics import classification_metrics, fix_rate, label_drops

        truth = reg_truth + fail_truth
        drops = label_drops(classification_metrics(truth, reg_before + fail_before), classification_metrics(truth, reg_after + fail_after), tolerance)
        return fix_rate(fail_truth, fail_after), drops, classification_metrics(reg_truth, reg_after)["accuracy"]

    def deployed_probs(self, ws, model_dir: str | Path, texts: list[str]):
        """The deployed classifier's (n, labels) probabilities, each text run through it once a run (`ws` caches
        them by text: the diagnosis, the gate's churn and the trainer's teacher share them)."""
        from tools.models.classifier import predict_proba

        return ws.by_text(DEPLOYED_PROBS, texts, lambda new: predict_proba(model_dir, new)[0])

    def churn(self, ws, model_dir: str | Path, texts: list[str], answers: list[Any] | None = None) -> list[float] | None:
        """Each answer's churn (the chance a retrain flips it), from the deployed model's top-2 margin on it."""
        from tools.gate import churn_of_probs

        return churn_of_probs(self.deployed_probs(ws, model_dir, texts)) if texts else []

    def answers_with_churn(self, model_dir: str | Path, texts: list[str]) -> tuple[list[Any], list[float] | None]:
        """A model's answers and their churn, from one pass over `texts`."""
        from tools.gate import churn_of_probs
        from tools.models.classifier import predict_proba

        if not texts:
            return [], None
        probs, labels = predict_proba(model_dir, texts)
        return [labels[j] for j in probs.argmax(1)], churn_of_probs(probs)

    def calibrate(self, model_dir: str | Path, texts: list[str], truth: list[Any]) -> dict | None:
        """Nothing to calibrate on a tuning split: a classifier answers with its argmax."""
        return None

    def apply_calibration(self, model_dir: str | Path, chosen: dict) -> None:
        return None

    def teacher(self, ws, deployed: str | Path, texts: list[str], targets: list[Any], labels: list[str]):
        """The deployed model's probabilities, mapped onto `labels`, on the rows where it is right (zero elsewhere):
        what focal distillation keeps of the deployed behaviour."""
        import numpy as np

        from tools.models.classifier import load_labels

        if not texts:
            return np.zeros((0, len(labels)), dtype=np.float32)
        probs = self.deployed_probs(ws, deployed, texts)
        dep_labels = load_labels(deployed)
        out = np.zeros((len(texts), len(labels)), dtype=np.float32)
        for j, l in enumerate(dep_labels):
            if l in labels:
                out[:, labels.index(l)] = probs[:, j]
        right = np.array([dep_labels[k] == t for k, t in zip(probs.argmax(1), targets)])
        return out * right[:, None]

    def train(self, base_model: str | None, texts: list[str], targets: list[Any], labels: list[str], out_dir: str | Path, cfg,
              progress=None, teacher=None, start: str | Path | None = None) -> dict:
        """Fine-tune `base_model` (or the deployed `start`) on the examples; the training summary."""
        from tools.models.classifier import train_classifier

        return train_classifier(base_model, texts, targets, labels, out_dir, cfg, teacher, progress=progress, start=start)

    def confusions(self, texts: list[str], truth: list[Any], pred: list[Any]) -> list[tuple]:
        from tools.coldstart.search import confusions

        return confusions(truth, pred)

    def diagnose(self, records: list, parent: list, labels: list[str], model: str | Path, ws: Any, *, base_model: str,
                 regression_size: int, holdout_failures: float, seed: int, say) -> Diagnosis:
        """The deployed probabilities on the logs; triage (poison, noise by confident learning, fixable); the regression
        set, held-out failures and tuning split; failure patterns by embedding clusters and confusions."""
        import numpy as np

        from tools.models.metrics import classification_metrics
        from tools.production import diagnosis as dx

        say("scoring the deployed model on the logs")
        probs = self.deployed_probs(ws, model, [r.input for r in records])
        log_emb, parent_emb = embeddings(ws, records, parent)
        served = [labels[j] for j in probs.argmax(1)]
        agree = float(np.mean([s == r.prediction for s, r in zip(served, records)]))
        say("triage: poison, noise, fixable")
        tri = dx.triage(records, parent, labels, probs, log_emb, parent_emb, dx.tokenizer_vocab(base_model), seed=seed)
        splits = dx.split_eval(records, tri, regression_size, holdout_failures, seed)
        pats = dx.patterns(records, tri, log_emb, seed)
        usable = [r for r, t in zip(records, tri) if t["category"] in ("trusted", "fixable")]
        baseline = classification_metrics([r.label for r in usable], [r.prediction for r in usable])
        return Diagnosis(tri, splits, pats, {"deployed_accuracy_on_usable_logs": baseline["accuracy"], "baseline_metrics": baseline,
                                             "served_predictions_reproduced": round(agree, 4), "confusions": dx.confusions(records, tri)})

    takes_paraphrases = True  # a chat model's paraphrases of a failure keep its label

    def mix_maker(self, rd, out: set[str], seed: int, paraphrases: list[dict]):
        """`make(cand) -> (rows, composition)`: gold (fixable failures and their perturbations), hard negatives,
        retained passes, parent replay and paraphrases, as the configuration's mix spec asks, nothing from `out`
        and no near-copy of an input in it."""
        import numpy as np

        from tools.production.curriculum import Item, MixSpec, build_mix

        records, tri = rd.records, rd.triage
        idx = {r.id: i for i, r in enumerate(records)}
        log_emb, parent_emb = rd.ws.read(LOG_EMB), rd.ws.read(PARENT_EMB)
        gold_ids = [r.id for r in records if tri[r.id]["category"] == "fixable" and r.id not in out]
        gold = [Item(records[idx[i]].input, records[idx[i]].correction, "gold", i) for i in gold_ids]
        trusted_ids = [r.id for r in records if tri[r.id]["category"] == "trusted" and r.id not in out]
        trusted = [Item(records[idx[i]].input, records[idx[i]].prediction, "retained", i) for i in trusted_ids]
        trusted += [Item(e.input, e.output, "replay", f"parent:{e.line}") for e in rd.parent]
        trusted_emb = np.concatenate([log_emb[[idx[i] for i in trusted_ids]].reshape(-1, log_emb.shape[1]), parent_emb])
        eval_ids = sorted(out)  # no mix holds a near-copy of what evaluates it
        eval_emb = log_emb[[idx[i] for i in eval_ids]] if eval_ids else np.zeros((0, log_emb.shape[1]), np.float32)
        extra = [Item(p["input"], p["output"], "paraphrase") for p in paraphrases]

        def make(cand: dict) -> tuple[list[dict], dict]:
            mix = build_mix(gold, log_emb[[idx[i] for i in gold_ids]], trusted, trusted_emb, eval_emb,
                            MixSpec(**cand["config"]["mix"]), seed=seed, paraphrases=extra)
            rows = [{"input": it.text, "output": it.label, "source": it.source, "ref": it.ref} for it in mix.items]
            return rows, {"composition": mix.composition, "dropped": mix.dropped}

        return make

    chat_writes_examples = True  # cold start without data: a chat teacher writes labelled examples of each label

    def first_strategies(self, diagnosis: dict, epochs: int, learning_rate: float) -> list[dict]:
        from tools.production.strategies import initial

        return initial(epochs, learning_rate)

    def first_search(self, configs: list[dict], n_train: int) -> list[dict]:
        return configs

    def revise_search(self, best: dict, iteration: int, confusions: list[tuple], tried: list[dict]) -> tuple[list[dict], str]:
        from tools.coldstart.search import revise

        return revise(best, iteration, confusions, tried=tried)

    def evaluation_set(self, train: list[tuple], test: list[tuple], spec: dict, seed: int):
        from tools.coldstart.evalset import build

        return build(train, test, spec["labels"], spec["out_of_scope"], seed=seed)

    def baseline(self, texts: list[str], train: list[tuple], labels: list[str], base_model: str) -> tuple[list[Any], str]:
        from tools.coldstart.zero_shot import nearest_label

        return nearest_label(texts, labels, base_model), "nearest label name by embedding (no training)"

    def probe(self, train: list[tuple], dev: list[tuple], base_model: str, seed: int) -> float | None:
        from tools.coldstart.probe import linear_probe

        return linear_probe([(t, y) for t, y, *_ in train], [(t, y) for t, y, *_ in dev], base_model, seed)
