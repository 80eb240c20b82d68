"""Poison triage alone, per noise kind, on AdaptFT-Bench stages: no training beyond the stage-0 model, so
a change to the triage rules is measured in about a minute a scenario. Classification scenarios only (the
entity triage is measured by `pioneer bench entities`).

    python -m evals.adaptft.triage_sweep                       # all scenarios, all stages, the default rules
    python -m evals.adaptft.triage_sweep --scenarios snips banking77 --stages 1 3 --ratios 0.0125 0.1
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from evals.adaptft.scenarios import DEFAULT, FULL, SCENARIOS, build, render_logs
from evals.scorers import triage_scores

CLASSIFICATION = [n for n in SCENARIOS if SCENARIOS[n].task == "classification"]


def sweep(root: Path, stage: int, ratios: list[float | None]) -> list[dict]:
    from tools.models.classifier import predict_proba
    from tools.models.embed import embed
    from tools.production import diagnosis as dx
    from tools.store.data import load_examples, load_logs, read_jsonl, write_jsonl

    traffic = read_jsonl(root / "data" / f"stage{stage}" / "traffic.jsonl")
    probs, labels = predict_proba(root / "models" / "deployed", [t["input"] for t in traffic])
    logs, key = render_logs(traffic, [labels[i] for i in probs.argmax(1)])
    write_jsonl(root / f"triage-stage{stage}.logs.jsonl", logs)
    records = load_logs(root / f"triage-stage{stage}.logs.jsonl", task=None).records
    parent = load_examples(root / "data" / "parent.jsonl")
    log_emb, parent_emb = embed([r.input for r in records]), embed([e.input for e in parent])
    vocab = dx.tokenizer_vocab("minilm")
    bad = {i for i, v in key.items() if v["noise"]}
    out = []
    for ratio in ratios:
        tri = dx.triage(records, parent, labels, probs, log_emb, parent_emb, vocab, dx.TriageSettings(noise_ratio=ratio))
        excluded = {t["id"] for t in tri if t["category"] in ("noise", "poison")}
        kinds, hits = Counter(key[i]["noise"] for i in bad), Counter(key[i]["noise"] for i in bad & excluded)
        t = triage_scores(key, excluded)
        out.append({"stage": stage, "ratio": "1/K" if ratio is None else ratio, "precision": t["triage_precision"], "recall": t["triage_recall"],
                    "clean_excluded": t["clean_excluded"], "key": key, "excluded": excluded,
                    "by_kind": {k: f"{hits[k]}/{n}" for k, n in sorted(kinds.items())}})
    return out


def main(argv: list[str] | None = None) -> int:
    from evals.adaptft.runner import recipe, train_once
    from tools.store.data import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=[n for n in DEFAULT if n in CLASSIFICATION], choices=CLASSIFICATION)
    ap.add_argument("--stages", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--ratios", nargs="+", type=float, default=None,
                    help="confident-learning noise ratios to compare (default: the triage's own, 1/K for K labels)")
    ap.add_argument("--out", default="bench_out/triage_sweep")
    ap.add_argument("--data-dir")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    ratios = a.ratios or [None]
    total: dict = {}
    print(f"{'scenario':18} {'stage':>5} {'ratio':>7} {'P':>6} {'R':>6} {'clean excl.':>11}  caught by kind")
    for name in a.scenarios:
        root = Path(a.out) / name
        info = build(SCENARIOS[name], root / "data", a.seed, FULL, a.data_dir)
        parent = read_jsonl(root / "data" / "parent.jsonl")
        train_once([(r["input"], r["output"]) for r in parent], info["labels"], root / "models" / "deployed", recipe(quick=False))
        for stage in a.stages:
            for r in sweep(root, stage, ratios):
                kinds = " ".join(f"{k} {v}" for k, v in r["by_kind"].items())
                print(f"{name:18} {stage:>5} {r['ratio']:>7} {r['precision']:>6} {r['recall']:>6} {r['clean_excluded']:>11}  {kinds}", flush=True)
                key, excluded = total.setdefault(r["ratio"], ({}, set()))  # ids made unique across scenarios and stages
                key.update({f"{name}/{stage}/{i}": v for i, v in r["key"].items()})
                excluded.update(f"{name}/{stage}/{i}" for i in r["excluded"])
    for ratio, (key, excluded) in total.items():
        t = triage_scores(key, excluded)
        print(f"{'all':18} {'':>5} {ratio:>7} {t['triage_precision']:>6} {t['triage_recall']:>6} {t['clean_excluded']:>11}  "
              f"{t['bad_excluded']} of {t['bad_lines']} noisy or poisoned lines excluded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
