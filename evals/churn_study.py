"""Which churn estimate predicts the deployed model's right answers that a retrain flips?

    python -m evals.churn_study --deployment bench_out/production/clean/deployment --models M1 M2 ... [--out F]
    python -m evals.churn_study --task ner --deployment bench_out/entities/mit_restaurant/clean/deployment --models ...
    python -m evals.churn_study --task generation --deployment bench_out/production_generation/deployment --models ...

On the deployment's test set (no log came from it), for each answer the deployed model gets right: its top-2
margin (a tagger's sentence: its least certain word's; a generated answer, judged by its verifier: its least certain
token's, the answer fed in), and for classifiers the share of MC-dropout passes
(dropout left on, T passes) that answer otherwise. Each retrained model's flips are the outcome (a sentence
flips when it was exactly right before and is not after). Prints the AUC of each estimate, the flip rate by margin bin (the basis of
`tools.gate.churn_from_margin`), and the expected against the observed flip count per model; writes the
figures as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

BINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01)


def mc_dropout(model_dir: str | Path, texts: list[str], passes: int = 10, seed: int = 0) -> np.ndarray:
    """(passes, n) predicted label ids with dropout on."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).train()
    out = []
    with torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        for _ in range(passes):
            preds = []
            for i in range(0, len(texts), 128):
                preds.append(model(**{k: v[i:i + 128] for k, v in enc.items()}).logits.argmax(-1).numpy())
            out.append(np.concatenate(preds))
    return np.stack(out)


def page(results: dict, task: str = "classification"):
    """The results page: which right answers retrains flip, by the deployed model's top-2 margin."""
    from evals.pages import Page

    unit = {"ner": "sentences", "generation": "generated answers"}.get(task, "answers")
    m = results["models"]
    head = (f"{len(m)} retrains flipped {', '.join(str(r['flips']) for r in m)} of {m[0]['right_before']} right {unit}; "
            f"the margin's AUC for the flipped ones {min(r['auc_margin'] for r in m)} to {max(r['auc_margin'] for r in m)}")
    suffix = {"ner": "_ner", "generation": "_generation"}.get(task, "")
    return Page("churn_study" + suffix, f"Which right {unit} a retrain flips" + {"ner": " (entities)", "generation": " (generation)"}.get(task, ""),
                f"python -m evals.churn_study --task {task} --deployment DEP --models M1 M2 M3", head,
                ["margin", "answers", "flip_rate"], results["bins"],
                "The flip rate of each margin bin over all the retrains (a sentence's margin is its least certain word's, a "
                "generated answer's its least certain token's); "
                "it is the gate's churn table (tools/gate.py).")


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import roc_auc_score

    from tools.gate import churn_from_margin, churn_table
    from tools.kinds.spans import same_answer
    from tools.models.classifier import predict, predict_proba
    from tools.store.data import read_jsonl, write_json

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--models", nargs="+", required=True, help="retrained model folders")
    ap.add_argument("--out", default="bench_out/churn_study.json")
    ap.add_argument("--task", default="classification", choices=["classification", "ner", "generation"])
    a = ap.parse_args(argv)
    dep = Path(a.deployment)
    test = read_jsonl(dep / "test.jsonl")
    texts, truth = [r["input"] for r in test], [r["output"] for r in test]
    judged = lambda answers: np.array([same_answer(b, t) for b, t in zip(answers, truth)])  # noqa: E731
    if a.task == "generation":  # right and wrong are the verifier's; an answer's margin is its least certain token's
        from tools import kinds
        from tools.models.causal import answer_margins, generate

        before = generate(dep / "deployed", texts)
        margin = np.array(answer_margins(dep / "deployed", texts, before))
        mc_p = np.full(len(texts), np.nan)
        answer = generate
        judged = lambda answers: np.array(kinds.get("generation").judged(truth, answers))  # noqa: E731
    elif a.task == "ner":
        from tools.models.tagger import predict_spans, spans_and_margins

        before, margin = spans_and_margins(dep / "deployed", texts)
        margin = np.array(margin)
        mc_p = np.full(len(texts), np.nan)
        answer = predict_spans
    else:
        probs, labels = predict_proba(dep / "deployed", texts)
        top = np.sort(probs, 1)
        margin = top[:, -1] - top[:, -2]
        before = [labels[i] for i in probs.argmax(1)]
        mc = mc_dropout(dep / "deployed", texts)
        mc_p = (mc != probs.argmax(1)[None, :]).mean(0)
        answer = predict
    right = judged(before)
    rows, pooled = [], []
    for m in a.models:
        after = answer(m, texts)
        flip = (right & ~judged(after))[right]
        pooled.append(flip)
        table = churn_table(a.task)
        both = 0 < flip.sum() < len(flip)
        rows.append({"model": str(m), "right_before": int(right.sum()), "flips": int(flip.sum()),
                     "expected_from_margin": round(float(churn_from_margin(margin[right], table).sum()), 2),
                     "expected_from_mc_dropout": None if a.task != "classification" else round(float(mc_p[right].sum()), 2),
                     "auc_margin": round(float(roc_auc_score(flip, -margin[right])), 3) if both else None,
                     "auc_mc_dropout": round(float(roc_auc_score(flip, mc_p[right])), 3) if both and a.task == "classification" else None})
    flips = np.stack(pooled)  # (models, right answers)
    m_right = margin[right]
    bins = []
    for lo, hi in zip(BINS, BINS[1:]):
        sel = (m_right >= lo) & (m_right < hi)
        bins.append({"margin": f"[{lo}, {min(hi, 1.0)})", "answers": int(sel.sum()),
                     "flip_rate": round(float(flips[:, sel].mean()), 4) if sel.any() else None})
    print("| model | right before | flips | expected (margin) | expected (MC dropout) | AUC margin | AUC MC dropout |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['model']).name} | {r['right_before']} | {r['flips']} | {r['expected_from_margin']} | "
              f"{r['expected_from_mc_dropout']} | {r['auc_margin']} | {r['auc_mc_dropout']} |")
    print("\n| deployed top-2 margin | right answers | flip rate (all models) |\n|---|---|---|")
    for b in bins:
        print(f"| {b['margin']} | {b['answers']} | {b['flip_rate']} |")
    write_json(a.out, {"deployment": str(dep), "models": rows, "bins": bins})
    from evals.pages import write

    print(f"\nresults in {a.out}; page {write(page({'models': rows, 'bins': bins}, a.task))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
