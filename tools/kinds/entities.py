"""Entity extraction: a text in, character spans out (`AutoModelForTokenClassification` with BIO tags); scored
by entity F1; a flip is a sentence whose entities were all right before and are not after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools.kinds.base import Diagnosis, embeddings
from tools.kinds.encoder import EncoderKind
from tools.store.artifacts import DEPLOYED_WORD_PROBS, REGRESSION_MARGINS


THRESHOLDS = (None, 0.5, 0.3, 0.2, 0.1, 0.05)  # P("O") below which a word is tagged as an entity; None: argmax


class Entities(EncoderKind):
    name, metric, unit, noun = "ner", "entity F1", "sentences", "entity types"
    metric_key = "entity_f1"
    words = r"\b(extract|entit(y|ies)|ner|named[- ]entit|span|tag(ging)? (the )?(words|tokens))\b"
    min_labels = 1
    report_columns = (("entity F1", "f1"), ("precision", "precision"), ("recall", "recall"))

    def map_answer(self, answer: Any, labels: list[str], level: str) -> Any:
        """A source's spans on the task's entity types: spans of types the task lacks are not entities here."""
        from tools.coldstart.taskspec import map_label

        return [{**s, "label": t} for s in answer if (t := map_label(s["label"], labels, level))]

    def claims(self, output: Any) -> bool:
        """Whether a logged answer has this kind's shape: a list of spans."""
        return isinstance(output, list) and all(isinstance(s, dict) and {"start", "end", "label"} <= s.keys() for s in output)

    def check_output(self, value: Any, text: str, what: str) -> str | None:
        """Why `value` is no valid span list for `text`: out of the text, overlapping, a `text` that is not the slice."""
        from tools.kinds.spans import check

        return check(text, value, what)

    def canonical(self, value: Any) -> Any:
        """Spans in their canonical order and keys."""
        from tools.kinds.spans import canonical

        return canonical(value)

    def owns(self, model_dir: str | Path) -> bool:
        from tools.models.tagger import is_tagger

        return is_tagger(model_dir)

    def check_model(self, model_dir: str | Path) -> list[str]:
        from tools.models.tagger import entity_types, is_tagger
        from tools.store.data import DataError

        p = Path(model_dir)
        if not is_tagger(p):
            raise DataError(p / "config.json", 0, "the logs hold entity spans but this is not a token-classification model")
        labels = entity_types(p)
        if not labels:
            raise DataError(p / "config.json", 0, "no entity tags in id2label (expected B-TYPE / I-TYPE)")
        return labels

    def predict(self, model_dir: str | Path, texts: list[str]) -> list[Any]:
        from tools.models.tagger import predict_spans

        return predict_spans(model_dir, texts)

    def metrics(self, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
        from tools.production.entities import log_metrics

        return log_metrics(texts, truth, pred)

    def score(self, metrics: dict) -> float:
        return metrics["f1"]

    def log_figures(self, texts: list[str], truth: list[Any], pred: list[Any], reg_texts: list[str], reg_truth: list[Any],
                    reg_pred: list[Any]) -> dict:
        """How a report shows a tagger on the usable logs and on the regression set: entity scores, error kinds."""
        from tools.production.entities import log_metrics

        m = log_metrics(texts, truth, pred)
        return {"entity_f1_on_logs": m["f1"], "precision_on_logs": m["precision"], "recall_on_logs": m["recall"],
                "accuracy_on_logs": m["sentence_accuracy"],
                "regression_accuracy": log_metrics(reg_texts, reg_truth, reg_pred)["sentence_accuracy"],
                "per_label_recall": {k: v["recall"] for k, v in m["per_type"].items()}, "per_type": m["per_type"], "errors": m["errors"]}

    def labels_of(self, answer: Any) -> list[str]:
        """The entity types of a span list; "none" for a sentence without entities (its own group in the gate)."""
        return sorted({s["label"] for s in answer}) or ["none"]

    dropped = "entity type F1 dropped"
    fixed_what = "the entity mistakes in {}"  # one failed sentence may hold several mistakes

    def churn_by_margin(self) -> tuple[tuple[float, float], ...]:
        """The measured chance a retrain flips an exactly right sentence, by its least certain word's margin."""
        from tools.gate import SENTENCE_CHURN_BY_MARGIN

        return SENTENCE_CHURN_BY_MARGIN

    def gate_evidence(self, reg_truth: list, reg_before: list, reg_after: list, fail_truth: list, fail_before: list, fail_after: list,
                      tolerance: float) -> tuple[float | None, dict[str, float], float]:
        """(the share of the held-out failures' entity mistakes mended, types whose F1 dropped past `tolerance`,
        the regression set's sentence accuracy)."""
        from tools.kinds.spans import entity_metrics, mistakes_fixed, type_drops

        truth = reg_truth + fail_truth
        drops = type_drops(entity_metrics(truth, reg_before + fail_before), entity_metrics(truth, reg_after + fail_after), tolerance)
        return mistakes_fixed(fail_truth, fail_before, fail_after), drops, entity_metrics(reg_truth, reg_after)["sentence_accuracy"]

    def deployed_probs(self, ws, model_dir: str | Path, texts: list[str]):
        """The deployed tagger's word probabilities (`tools.models.tagger.word_probs`), each text run through it once a run."""
        from tools.models.tagger import word_probs

        return ws.blocks_by_text(DEPLOYED_WORD_PROBS, texts, lambda new: word_probs(model_dir, new)[0])

    def churn(self, ws, model_dir: str | Path, texts: list[str], answers: list[Any] | None = None) -> list[float] | None:
        """Each sentence's churn, from the deployed tagger's least certain word's top-2 margin (computed once a run)."""
        import numpy as np

        from tools.gate import sentence_churn
        from tools.models.tagger import spans_and_margins

        if not texts:
            return []
        margins = ws.array(REGRESSION_MARGINS, lambda: np.array(spans_and_margins(model_dir, texts, self.deployed_probs(ws, model_dir, texts))[1]))
        return sentence_churn(margins.tolist()) if len(margins) == len(texts) else None

    def answers_with_churn(self, model_dir: str | Path, texts: list[str]) -> tuple[list[Any], list[float] | None]:
        """A tagger's span answers and each sentence's churn, from one pass over `texts`."""
        from tools.gate import sentence_churn
        from tools.models.tagger import spans_and_margins

        if not texts:
            return [], None
        spans, margins = spans_and_margins(model_dir, texts)
        return spans, sentence_churn(margins)

    def calibrate(self, model_dir: str | Path, texts: list[str], truth: list[Any]) -> dict | None:
        """The decision threshold (P("O") below which a word is an entity) with the best entity F1 on a tuning split,
        saved with the model; with over-prediction, a tuned threshold trades recall for precision."""
        from tools.kinds.spans import entity_metrics
        from tools.models.tagger import decode, set_threshold, word_probs

        if not texts:
            return None
        probs, offs, tags = word_probs(model_dir, texts)
        scores = {th: entity_metrics(truth, [decode(p, o, tags, th) for p, o in zip(probs, offs)])["f1"] for th in THRESHOLDS}
        best = max(scores, key=lambda th: (scores[th], th is None))
        set_threshold(model_dir, best)
        return {"chosen": best, "f1_by_threshold": {str(k): v for k, v in scores.items()}, "tuning_n": len(texts),
                "said": f"decision threshold {best} (tuning F1 {scores[best]}, argmax {scores[None]})"}

    def apply_calibration(self, model_dir: str | Path, chosen: dict) -> None:
        """A refit keeps its selection's threshold."""
        from tools.models.tagger import set_threshold

        set_threshold(model_dir, chosen.get("chosen"))

    def teacher(self, ws, deployed: str | Path, texts: list[str], targets: list[Any], labels: list[str]):
        """The deployed tagger's word probabilities on the words whose tag it gets right (zero rows elsewhere)."""
        from tools.models.tagger import tag_set, teacher_probs

        if not texts:
            return None
        return teacher_probs(deployed, texts, targets, tag_set(labels), self.deployed_probs(ws, deployed, texts))

    def train(self, base_model: str | None, texts: list[str], targets: list[Any], labels: list[str], out_dir: str | Path, cfg,
              progress=None, teacher=None, start: str | Path | None = None) -> dict:
        """Fine-tune `base_model` (or the deployed tagger `start`) to tag the spans' words; the training summary."""
        from tools.models.tagger import train_tagger

        return train_tagger(base_model, texts, targets, labels, out_dir, cfg, progress=progress, teacher=teacher, start=start)

    def confusions(self, texts: list[str], truth: list[Any], pred: list[Any]) -> list[tuple]:
        from tools.production.entities import entity_confusions

        return entity_confusions(texts, truth, pred)

    def diagnose(self, records: list, parent: list, labels: list[str], model: str | Path, ws: Any, *, base_model: str,
                 regression_size: int, holdout_failures: float, seed: int, say) -> Diagnosis:
        """The logged answers scored, every failure broken into error kinds; triage (noise: corrections that contradict
        the trusted data); splits, with a tuning split only when over-prediction calls for a decision threshold."""
        from tools.models.tagger import predict_spans
        from tools.production import diagnosis as dx
        from tools.production import entities as en

        say("re-running the deployed model on the logs")
        texts = [r.input for r in records]
        served = predict_spans(model, texts, probs=self.deployed_probs(ws, model, texts))
        agree = sum(s == r.prediction for s, r in zip(served, records)) / len(records)
        log_emb, parent_emb = embeddings(ws, records, parent)
        say("triage: poison, noise (corrections that contradict the trusted data), fixable")
        tri = en.triage(records, parent, labels, log_emb, parent_emb, dx.tokenizer_vocab(base_model))
        usable = [r for r, t in zip(records, tri) if t["category"] in ("trusted", "fixable")]
        baseline = en.log_metrics([r.input for r in usable], [r.label for r in usable], [r.prediction for r in usable])
        dominant = en.dominant_error(baseline["errors"])
        splits = en.split_eval(records, tri, regression_size, holdout_failures, tuning=0.1 if dominant == "precision" else 0.0, seed=seed)
        errs = baseline["errors"]["total"]
        return Diagnosis(tri, splits, en.patterns(records, tri),
                         {"deployed_accuracy_on_usable_logs": baseline["sentence_accuracy"], "baseline_metrics": baseline,
                          "dominant_error": dominant, "served_predictions_reproduced": round(agree, 4), "confusions": []},
                         "; errors: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in errs.items()))

    takes_paraphrases = False  # a paraphrase would move the spans

    def mix_maker(self, rd, out: set[str], seed: int, paraphrases: list[dict]):
        """`make(cand) -> (rows, composition)`: gold corrections, hard negatives for the falsely predicted surfaces,
        retained passes and parent data; nothing from `out`."""
        from collections import Counter

        from tools.kinds.spans import errors
        from tools.production.entities import build_mix

        by_id = rd.by_id
        gold = [(r.input, r.correction, r.id) for r in rd.records if rd.category(r.id) == "fixable" and r.id not in out]
        trusted = [(r.input, r.prediction, r.id) for r in rd.records if rd.category(r.id) == "trusted" and r.id not in out]
        trusted += [(e.input, e.output, f"parent:{e.line}") for e in rd.parent]
        false = Counter(e["text"].lower() for t, c, i in gold for e in errors(t, c, by_id[i].prediction) if e["kind"] == "false_positive")
        exclude = {" ".join(by_id[i].input.lower().split()) for i in out}

        def make(cand: dict) -> tuple[list[dict], dict]:
            m = cand["config"]["mix"]
            mix = build_mix(gold, trusted, [w for w, _ in false.most_common()], m["gold_repeat"], m["hard_negatives"], m["replay_fraction"],
                            exclude, seed=seed)
            return mix.rows, {"composition": mix.composition, "dropped": {}}

        return make

    chat_writes_examples = False  # cold start without data: no chat teacher writes span-annotated sentences yet

    def first_strategies(self, diagnosis: dict, epochs: int, learning_rate: float) -> list[dict]:
        from tools.production.strategies import initial_entities

        return initial_entities(diagnosis["dominant_error"], epochs, learning_rate)

    def first_search(self, configs: list[dict], n_train: int) -> list[dict]:
        for c in configs:  # sentences run longer than requests: 128 subwords
            c["train"]["max_length"] = max(c["train"]["max_length"], 128)
        return configs

    def revise_search(self, best: dict, iteration: int, confusions: list[tuple], tried: list[dict]) -> tuple[list[dict], str]:
        from tools.coldstart.search import revise

        return revise(best, iteration, confusions, entities=True, tried=tried)

    def evaluation_set(self, train: list[tuple], test: list[tuple], spec: dict, seed: int):
        from tools.coldstart.evalset import build_entities

        return build_entities(train, test, spec["labels"], seed=seed)

    def baseline(self, texts: list[str], train: list[tuple], labels: list[str], base_model: str) -> tuple[list[Any], str]:
        from tools.coldstart.zero_shot import dictionary_spans

        return dictionary_spans(texts, [(t, y) for t, y, *_ in train]), "the training split's entity names looked up in each input (no training)"

    def probe(self, train: list[tuple], dev: list[tuple], base_model: str, seed: int) -> float | None:
        return None  # no span probe yet: the search keeps the paper's target
