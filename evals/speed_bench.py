"""Throughput, measured in one run: the trainer against a plain torch loop, prediction, agent overhead, FLOP ratio.

    pioneer bench speed [--out bench_out/speed] [--examples 1024] [--batch-size 32] [--production] [--data-dir DIR]

- **trainer_vs_plain**: examples/s of the project's classifier trainer (`tools.models.classifier.train_classifier`:
  length-grouped batches, dynamic padding, tokenized once) over a minimal hand-written loop (AdamW, shuffled batches
  padded to their longest, the same model, data, batch size, learning rate and epochs), both timed whole (load,
  tokenize, train, save), alternated `REPEATS` times, medians compared.
- **predict_per_s**, **embed_per_s**: the classifier's prediction and MiniLM's embedding throughput on the same texts
  (docs/scale.md's cost model uses them).
- **flop_ratio**: the trainer's achieved training FLOP/s (6 x non-embedding parameters x real tokens, Kaplan et al.
  2020) over this CPU's fp32 matmul peak, measured here (`PEAK_N`-square matmuls for about two seconds).
- **agent_overhead**: the share of a production run's wall time outside model compute (training, prediction,
  embedding, interpolation and its weight choice: every call of those functions timed): ingest, triage statistics,
  clustering, planning, checkpoints, the report. On the demo deployment; with `--production`, on the Banking77
  deployment of `pioneer bench production` (clean condition), where naive retraining is timed in the same run
  (`pioneer_vs_naive`).
The data: the demo's generated intent task (no download), MiniLM (the embedded default). Prints a table and writes
speed.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

REPEATS = 3
PEAK_N = 1024
COMPUTE = {  # module: functions whose calls are model compute (the outermost call is timed, nested ones not again)
    "tools.models.classifier": ("train_classifier", "predict_proba"),
    "tools.models.tagger": ("train_tagger", "word_probs"),
    "tools.models.causal": ("train_causal", "generate", "answer_margins"),
    "tools.models.embed": ("embed",),
    "tools.models.warm": ("interpolate", "choose_alpha"),
}


def data(n: int, seed: int) -> tuple[list[str], list[str], list[str]]:
    from tools.fixtures.demo import generate

    rows = generate(60, (0, 1, 2), random.Random(seed))
    random.Random(seed).shuffle(rows)
    rows = (rows * (n // max(1, len(rows)) + 1))[:n]
    return [t for t, _ in rows], [y for _, y in rows], sorted({y for _, y in rows})


def plain_loop(base: str, texts: list[str], targets: list[str], labels: list[str], out: Path, batch_size: int, lr: float,
               epochs: int, max_length: int, seed: int) -> None:
    """The minimal loop: shuffled batches padded to their longest, AdamW, the model saved at the end."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(labels))
    enc = tok(texts, truncation=True, max_length=max_length)
    y = torch.tensor([labels.index(t) for t in targets])
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    rng = random.Random(seed)
    for _ in range(epochs):
        order = list(range(len(texts)))
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            batch = tok.pad({"input_ids": [enc["input_ids"][j] for j in idx], "attention_mask": [enc["attention_mask"][j] for j in idx]},
                            return_tensors="pt")
            loss = torch.nn.functional.cross_entropy(model(**batch).logits, y[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
    model.save_pretrained(out)
    tok.save_pretrained(out)


def matmul_peak(n: int = PEAK_N, seconds: float = 2.0) -> float:
    """fp32 FLOP/s of n x n matmuls on this CPU with torch's threads (the best of short bursts)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t))
    return best


def training_flops(base: str, texts: list[str], max_length: int, epochs: int) -> float:
    """6 x non-embedding parameters x real (unpadded) tokens, over all epochs."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(base)
    params = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    tokens = sum(len(ids) for ids in AutoTokenizer.from_pretrained(base)(texts, truncation=True, max_length=max_length)["input_ids"])
    return 6.0 * params * tokens * epochs


@contextmanager
def compute_timer():
    """Times every outermost call of the model-compute functions (COMPUTE) made inside; yields {"seconds": total}."""
    import importlib

    spent, depth, saved = {"seconds": 0.0, "calls": 0}, [0], []

    def wrap(fn):
        def timed(*a, **k):
            depth[0] += 1
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent["seconds"] += time.perf_counter() - t
                    spent["calls"] += 1
        return timed

    for name, fns in COMPUTE.items():
        mod = importlib.import_module(name)
        for f in fns:
            if hasattr(mod, f):
                saved.append((mod, f, getattr(mod, f)))
                setattr(mod, f, wrap(getattr(mod, f)))
    try:
        yield spent
    finally:
        for mod, f, fn in saved:
            setattr(mod, f, fn)


def demo_overhead(root: Path, seed: int) -> dict:
    """The demo's production run, its model compute timed: wall seconds, compute seconds, the overhead share."""
    import shutil

    from graph.service import start
    from tools.fixtures.demo import build_demo

    dep = root / "demo"
    build_demo(dep / "deployment", seed=seed)
    shutil.rmtree(dep / "run", ignore_errors=True)
    inputs = {"model": str((dep / "deployment" / "deployed").resolve()), "logs": str((dep / "deployment" / "logs.jsonl").resolve()),
              "train_data": str((dep / "deployment" / "parent.jsonl").resolve()), "skip_bad_lines": False}
    with compute_timer() as spent:
        t = time.perf_counter()
        start(inputs, {"home": str(dep / "home"), "seed": seed}, str(dep / "run"))
        wall = time.perf_counter() - t
    return {"run": "demo", "wall_s": round(wall, 1), "compute_s": round(spent["seconds"], 1), "agent_overhead": round(1 - spent["seconds"] / wall, 4),
            **_shape(dep / "run")}


def _shape(run_dir: Path) -> dict:
    """What the run worked on and where its time went: logs, candidates trained, seconds per node."""
    rep = json.loads((run_dir / "report.json").read_text())
    trained = [it["training"] for it in rep.get("iterations") or [] if (it.get("training") or {}).get("seconds") is not None]
    return {"logs": (rep.get("ingest") or {}).get("logs"), "candidates": len(trained),
            "examples_trained": sum(t.get("examples") or 0 for t in trained),
            "seconds_per_node": {r["node"]: r["seconds"] for r in rep.get("seconds_per_node") or []}}


def banking_overhead(root: Path, data_dir: str | None, seed: int) -> dict:
    """`pioneer bench production`'s clean Banking77 condition (naive retraining and pioneer, each timed), its
    model compute timed: pioneer's wall against naive's, and the overhead share of the whole condition."""
    from graph import service
    from evals.production_bench import run_condition

    pioneer = {}
    real_start = service.start

    def timed_start(*a, **k):  # the pioneer run alone: not the deployment's making, naive retraining or the test scoring
        with compute_timer() as spent:
            t = time.perf_counter()
            try:
                return real_start(*a, **k)
            finally:
                pioneer.update(wall=time.perf_counter() - t, compute=spent["seconds"])

    service.start = timed_start
    try:
        rows = run_condition("clean", root / "banking77", data_dir, seed)
    finally:
        service.start = real_start
    by = {r["system"]: r for r in rows}
    return {"run": "banking77 (clean)", "wall_s": round(pioneer["wall"], 1), "compute_s": round(pioneer["compute"], 1),
            "agent_overhead": round(1 - pioneer["compute"] / pioneer["wall"], 4), "naive_wall_s": by["naive"]["wall_s"],
            "pioneer_wall_s": by["pioneer"]["wall_s"], "pioneer_vs_naive": round(by["pioneer"]["wall_s"] / by["naive"]["wall_s"], 2),
            "pioneer_test_accuracy": by["pioneer"].get("test_accuracy"), "naive_test_accuracy": by["naive"].get("test_accuracy"),
            **_shape(root / "banking77" / "clean" / "pioneer")}


def measure(out: Path, n: int, batch_size: int, epochs: int, seed: int) -> dict:
    import torch

    from tools.models.classifier import TrainConfig, predict, train_classifier
    from tools.models.embed import minilm_path

    base = minilm_path()
    texts, targets, labels = data(n, seed)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=5e-5, seed=seed)
    times: dict[str, list[float]] = {"trainer": [], "plain": []}
    for r in range(REPEATS):
        for name in ("plain", "trainer") if r % 2 == 0 else ("trainer", "plain"):  # alternated: drift hits both
            t = time.perf_counter()
            if name == "trainer":
                train_classifier(base, texts, targets, labels, out / "trainer", cfg)
            else:
                plain_loop(base, texts, targets, labels, out / "plain", batch_size, cfg.learning_rate, epochs, cfg.max_length, seed)
            times[name].append(time.perf_counter() - t)
    trainer_s, plain_s = statistics.median(times["trainer"]), statistics.median(times["plain"])
    t = time.perf_counter()
    predict(out / "trainer", texts)
    predict_s = time.perf_counter() - t
    from tools.models.embed import embed

    embed(texts[:8])  # loaded once, as a run does
    t = time.perf_counter()
    embed(texts)
    embed_s = time.perf_counter() - t
    peak = matmul_peak()
    achieved = training_flops(base, texts, cfg.max_length, epochs) / trainer_s
    return {"examples": n, "batch_size": batch_size, "epochs": epochs, "threads": torch.get_num_threads(),
            "trainer_examples_per_s": round(n * epochs / trainer_s, 1), "plain_examples_per_s": round(n * epochs / plain_s, 1),
            "trainer_vs_plain": round(plain_s / trainer_s, 3), "trainer_s": [round(x, 1) for x in times["trainer"]],
            "plain_s": [round(x, 1) for x in times["plain"]], "predict_per_s": round(n / predict_s, 1),
            "embed_per_s": round(n / embed_s, 1),
            "achieved_flops": round(achieved / 1e9, 2), "peak_flops": round(peak / 1e9, 2), "flop_ratio": round(achieved / peak, 4)}


def page(results: dict):
    from evals.pages import Page

    rows = [{"figure": k, "value": v} for k, v in results.items() if not isinstance(v, (dict, list))]
    rows += [{"figure": f"{results['overhead']['run']}: {k}", "value": v} for k, v in results["overhead"].items() if k != "run"]
    return Page("speed", "Throughput: the trainer against a plain loop, prediction, agent overhead, FLOP ratio", "pioneer bench speed",
                f"trainer {results['trainer_vs_plain']}x the plain loop; agent overhead {results['agent_overhead']:.1%} "
                f"({results['overhead']['run']}); {results['flop_ratio']:.1%} of the matmul peak",
                ["figure", "value"], rows, "GFLOP/s in achieved_flops and peak_flops; one run on 2 CPU cores (times vary with the "
                "machine's other load, which is why both loops alternate in the same run).")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pioneer bench speed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_out/speed")
    ap.add_argument("--examples", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--production", action="store_true", help="agent overhead and wall time on the Banking77 deployment (~20 min)")
    ap.add_argument("--data-dir", help="benchmark data for --production (default: ../shared/datasets or $PIONEER_DATA_DIR)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = measure(out, args.examples, args.batch_size, args.epochs, args.seed)
    results["overhead"] = banking_overhead(out, args.data_dir, args.seed) if args.production else demo_overhead(out, args.seed)
    results["agent_overhead"] = results["overhead"]["agent_overhead"]
    width = max(len(k) for k in results)
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    (out / "speed.json").write_text(json.dumps(results, indent=1))
    from evals.pages import write

    print(f"wrote {out / 'speed.json'}; page {write(page(results))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
