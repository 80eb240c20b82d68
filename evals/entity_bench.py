"""Production mode on an entity extractor, against naive retraining.

    pioneer bench entities [--dataset mit_restaurant|wnut17] [--conditions clean noisy] [--out bench_out/entities]

The deployment (seeded): a MiniLM tagger trained briefly on a few hundred sentences (entity F1 near 0.35),
about 3,000 served sentences from the training split judged against the gold spans (a fail carries the gold
spans as its correction; the noisy condition retypes or drops an entity in 15% of the corrections and adds 5%
poison lines), and the benchmark's test split, which no log came from. Naive retraining trains the base
model on the parent data plus every log as labelled; `pioneer improve` runs with its defaults. Both are
scored on the test split: entity F1, precision, recall, and flipped sentences (exactly right before, not
after). Prints a table and writes results.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import time
from pathlib import Path

from evals.datasets import entity_sentences
from tools.models.classifier import TrainConfig
from tools.store.data import load_examples, load_logs, read_jsonl, write_json

CONDITIONS = {"clean": {"wrong_rate": 0.0, "poison_rate": 0.0}, "noisy": {"wrong_rate": 0.15, "poison_rate": 0.05}}
NAIVE = TrainConfig(epochs=6, learning_rate=2e-4, max_length=128)  # pioneer's first configuration's recipe
DEPLOYED = TrainConfig(epochs=3, learning_rate=2e-4, max_length=128)  # 300 sentences: entity F1 near 0.35 on MIT Restaurant


PARENT_N, LOGS_N = 300, 3000  # the deployment's size: sentences the deployed tagger was trained on, judged log lines


def build(out: Path, dataset: str, seed: int, parent_n: int, logs_n: int, data_dir: str | None, **noise) -> dict:
    from tools.fixtures.simulate import simulate_entity_deployment
    from tools.kinds.spans import types_of

    rng = random.Random(seed)
    train = entity_sentences(dataset, "train", data_dir)
    rng.shuffle(train)
    test = entity_sentences(dataset, "test", data_dir)
    types = types_of([s for _, s in train])
    info = simulate_entity_deployment(out, types, train[:parent_n], train[parent_n:parent_n + logs_n], test, seed=seed,
                                      deployed_config=TrainConfig(**{**DEPLOYED.__dict__, "seed": seed}), **noise)
    write_json(out / "deployment.json", info)
    return info


def naive_retrain(dep: Path, out: Path, types: list[str]) -> Path:
    """Everything as labelled: parent data, passes with their prediction, failures with their correction.
    Trained afresh every run: its wall time is the baseline of the 3x budget, measured beside pioneer's."""
    from tools.models.tagger import train_tagger

    shutil.rmtree(out, ignore_errors=True)
    parent = load_examples(dep / "parent.jsonl", task="ner")
    logs = [r for r in load_logs(dep / "logs.jsonl", task="ner").records if r.label is not None]
    train_tagger(None, [e.input for e in parent] + [r.input for r in logs], [e.output for e in parent] + [r.label for r in logs],
                 sorted(types | {s["label"] for r in logs for s in r.label}), out, NAIVE)
    return out


def run_condition(name: str, dataset: str, root: Path, a) -> list[dict]:
    from evals.scorers import entity_test_scores, triage_scores
    from graph.service import start as run_pioneer
    from tools.models.tagger import predict_spans

    dep = root / dataset / name / "deployment"
    t = time.time()
    info = build(dep, dataset, a.seed, a.parent, a.logs, a.data_dir, **CONDITIONS[name])
    test = read_jsonl(dep / "test.jsonl")
    x, y = [r["input"] for r in test], [r["output"] for r in test]
    deployed = predict_spans(dep / "deployed", x)
    base = {"dataset": dataset, "condition": name, "test_n": len(x)}
    rows = [{**base, "system": "deployed", **entity_test_scores(x, y, deployed, deployed), "wall_s": round(time.time() - t, 1)}]
    print(f"{dataset}/{name}: deployed F1 {rows[0]['test_f1']} ({info['logs']} logs, {info['failures']} failed)", flush=True)

    t = time.time()
    naive = naive_retrain(dep, root / dataset / name / "naive", set(info["types"]))
    rows.append({**base, "system": "naive", **entity_test_scores(x, y, deployed, predict_spans(naive, x)), "wall_s": round(time.time() - t, 1)})
    print(f"{dataset}/{name}: naive F1 {rows[-1]['test_f1']}, {rows[-1]['test_flips']} flips", flush=True)

    t = time.time()
    for stale in ("pioneer", "home"):  # a run of its own: no finished report, registry or memory from a previous bench
        shutil.rmtree(root / dataset / name / stale, ignore_errors=True)
    inputs = {"model": str((dep / "deployed").resolve()), "logs": str((dep / "logs.jsonl").resolve()),
              "train_data": str((dep / "parent.jsonl").resolve()), "skip_bad_lines": False}
    _status, run_dir = run_pioneer(inputs, {"home": str(root / dataset / name / "home"), "seed": a.seed},
                                    str(root / dataset / name / "pioneer"))
    rep = json.loads((run_dir / "report.json").read_text())
    key = {k["id"]: k for k in read_jsonl(dep / "key.jsonl")}
    excluded = {e["id"] for e in rep["excluded"] if e["category"] in ("noise", "poison")}
    row = {**base, "system": "pioneer", "promoted": rep["promoted"], "gate_flips": (rep.get("gate") or {}).get("negative_flips"),
           **triage_scores(key, excluded)}
    after = predict_spans(rep["model_dir"], x) if rep["promoted"] else deployed
    row.update(entity_test_scores(x, y, deployed, after), wall_s=round(time.time() - t, 1))
    rows.append(row)
    print(f"{dataset}/{name}: pioneer F1 {row['test_f1']}, {row['test_flips']} flips, {row['wall_s']} s", flush=True)
    for e in rep["iterations"]:  # every candidate on the test split too: how near the gate's refusals came
        if e.get("model_dir") and (Path(e["model_dir"]) / "config.json").exists():
            rows.append({**base, "system": f"candidate {Path(e['model_dir']).name}", "gate_flips": e["gate"]["negative_flips"],
                         **entity_test_scores(x, y, deployed, predict_spans(e["model_dir"], x))})
    return rows


COLS = ["dataset", "condition", "system", "test_f1", "test_precision", "test_recall", "test_flips", "gate_flips",
        "triage_precision", "triage_recall", "wall_s"]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLS) + " |", "|" + " --- |" * len(COLS)]
    lines += ["| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in COLS) + " |" for r in rows]
    return "\n".join(lines)


def page(results: dict):
    """The results page: pioneer against naive retraining per dataset and condition (candidates left out)."""
    from evals.pages import Page

    rows = [r for r in results["rows"] if not str(r.get("system", "")).startswith("candidate")]
    heads = []
    for ds, cond in dict.fromkeys((r["dataset"], r["condition"]) for r in rows):
        by = {r["system"]: r for r in rows if (r["dataset"], r["condition"]) == (ds, cond)}
        p, n = by.get("pioneer", {}), by.get("naive", {})
        heads.append(f"{ds} {cond}: pioneer F1 {p.get('test_f1')} / {p.get('test_flips')} flipped sentences, "
                     f"naive {n.get('test_f1')} / {n.get('test_flips')}")
    return Page("entities", "Entity extraction in production, against naive retraining", "pioneer bench entities --conditions clean noisy",
                "; ".join(heads), COLS, rows, "Entity F1 on the test split; a flipped sentence was exactly right before and is not "
                "after; wall time in seconds, both systems trained in the same run. One seed.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pioneer bench entities", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mit_restaurant", choices=["mit_restaurant", "wnut17"])
    ap.add_argument("--conditions", nargs="+", default=["clean"], choices=list(CONDITIONS))
    ap.add_argument("--data-dir", help="benchmark data (default: $PIONEER_DATA_DIR, else ../shared/datasets)")
    ap.add_argument("--out", default="bench_out/entities")
    ap.add_argument("--parent", type=int, default=PARENT_N, help=f"sentences the deployed model was trained on (default: {PARENT_N})")
    ap.add_argument("--logs", type=int, default=LOGS_N, help=f"judged log lines (default: {LOGS_N})")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from graph.service import setup_env

    setup_env()
    root = Path(a.out)
    rows = []
    for c in a.conditions:
        rows += run_condition(c, a.dataset, root, a)
        print(table(rows), flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        write_json(root / a.dataset / "results.json", {"rows": rows, "peak_rss_mb": round(peak)})  # after every condition
    (root / a.dataset / "table.md").write_text(table(rows) + f"\n\npeak memory {peak:.0f} MB\n")
    from evals.pages import write

    print(f"\npeak memory {peak:.0f} MB; results in {root / a.dataset / 'results.json'}; page {write(page({'rows': rows}))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
