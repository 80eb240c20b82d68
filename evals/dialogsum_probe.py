"""How far the embedded generator gets on DialogSum, before the generation kind exists: the untrained
SmolLM2-135M-Instruct against a plain LoRA fine-tune of it on DialogSum's dev split, both scored by ROUGE-L (the
best of the three references) on the first test dialogues. It measures what a cold start must beat (issue 16:
5 points over the untrained base, and the plain fine-tune, within 30 minutes on 2 cores).

    python -m evals.dialogsum_probe [--train 128] [--test 48] [--epochs 1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evals.datasets import data_dir
from evals.pages import Page, write
from tools.store.data import write_json

PROMPT = "Summarize this dialogue in one or two sentences.\n\n{}"
RESULTS = Path(__file__).resolve().parent / "results" / "dialogsum_probe.json"


def dialogsum(split: str, root: str | None = None) -> list[dict]:
    p = data_dir(root) / "dialogsum" / "DialogSum_Data" / f"dialogsum.{split}.jsonl"
    return [json.loads(l) for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]


def rouge(pred: list[str], refs: list[list[str]]) -> float:
    from tools import verify

    return round(100 * sum(verify.rouge_l(p, r).score for p, r in zip(pred, refs)) / len(pred), 2)


def page(out: dict) -> Page:
    rows, a = out["rows"], out["argv"]
    gain = rows[1]["rouge_l"] - rows[0]["rouge_l"]
    return Page("dialogsum_probe", "DialogSum: the embedded generator untrained and plainly fine-tuned",
                "python -m evals.dialogsum_probe " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in a.items() if v is not None),
                f"ROUGE-L {rows[0]['rouge_l']} untrained, {rows[1]['rouge_l']} after a plain LoRA fine-tune on {rows[1]['train_examples']} "
                f"dev dialogues ({gain:+.2f}), on {out['test_dialogues']} test dialogues",
                ["model", "train_examples", "rouge_l", "seconds", "train_seconds", "example"], rows,
                notes="A probe, not the cold-start benchmark: generation is not a task kind yet. One seed; ROUGE-L F1 (rouge-score, "
                      "stemmed), best of the three references; `example` is the answer to the first test dialogue.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=128, help="dev dialogues to fine-tune on")
    ap.add_argument("--test", type=int, default=48, help="test dialogues to score")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--learning-rate", type=float, default=2e-4)
    ap.add_argument("--max-length", type=int, default=384)
    ap.add_argument("--max-new-tokens", type=int, default=60)
    ap.add_argument("--data-dir")
    a = ap.parse_args(argv)
    from tools.models.causal import LoraTrainConfig, generate, smollm2_path, train_causal

    train = dialogsum("dev", a.data_dir)[: a.train]
    test = dialogsum("test", a.data_dir)[: a.test]
    prompts = [PROMPT.format(d["dialogue"]) for d in test]
    refs = [[d[f"summary{i}"] for i in (1, 2, 3)] for d in test]
    base = str(smollm2_path(say=print))
    rows, t0 = [], time.perf_counter()
    pred = generate(base, prompts, max_new_tokens=a.max_new_tokens)
    rows.append({"model": "untrained SmolLM2-135M-Instruct", "train_examples": 0, "rouge_l": rouge(pred, refs),
                 "seconds": round(time.perf_counter() - t0, 1), "example": pred[0]})
    print(rows[-1])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cfg = LoraTrainConfig(epochs=a.epochs, learning_rate=a.learning_rate, max_length=a.max_length, batch_size=8)
        summary = train_causal(base, [(PROMPT.format(d["dialogue"]), d["summary"]) for d in train], tmp, cfg, progress=print)
        trained = time.perf_counter() - t0
        pred = generate(tmp, prompts, max_new_tokens=a.max_new_tokens)
        rows.append({"model": f"plain LoRA r={cfg.lora_r}, {a.epochs:g} epoch(s), lr {a.learning_rate:g}", "train_examples": len(train),
                     "rouge_l": rouge(pred, refs), "seconds": round(time.perf_counter() - t0, 1), "train_seconds": round(trained, 1),
                     "loss": [summary["curve"][0]["loss"], summary["curve"][-1]["loss"]], "example": pred[0]})
        print(rows[-1])
    out = {"argv": vars(a), "test_dialogues": len(test), "rows": rows}
    write_json(RESULTS, out)
    print(f"results in {RESULTS}; page {write(page(out))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
