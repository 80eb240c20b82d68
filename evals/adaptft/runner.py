"""AdaptFT-Bench runner: every system through every stage of every scenario, scored on the fixed union
evaluation; prints the table, writes results.json and one plot per scenario.

Systems, side by side on the same traffic:
- deployed: the stage-0 model, unchanged;
- naive: retrained from the base at each stage on the parent data and all logs so far, as judged;
- pioneer: production mode at each stage, on the logs its current model wrote (it keeps its model when
  nothing is promoted); its parent data is the stage-0 data, then the lineage of the model it promoted
  (that data plus the log lines it trusted), as in production;
- oracle: retrained on the parent data and all real traffic so far with the true labels (the ceiling).

The score is accuracy, or entity F1 for the entity-extraction scenarios (a flip there is a sentence whose
spans were exactly right and no longer are).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from evals.adaptft.scenarios import DEFAULT, FULL, POISON_RATES, QUICK, SCENARIOS, Size, build, render_logs
from evals.scorers import entity_test_scores, test_scores, triage_scores
from tools.store.data import read_jsonl, write_json, write_jsonl

SYSTEMS = ("deployed", "naive", "pioneer", "oracle")


def recipe(quick: bool, task: str = "classification"):
    from tools.models.classifier import TrainConfig

    cfg = TrainConfig(epochs=2, learning_rate=3e-4) if quick else TrainConfig(epochs=6, learning_rate=2e-4)
    return TrainConfig(**{**cfg.__dict__, "max_length": 128}) if task == "ner" else cfg


def pioneer_settings(quick: bool, home: Path) -> dict:
    s = {"home": str(home), "max_iterations": 1 if quick else 2, "budget_minutes": 2.0 if quick else 12.0}
    return {**s, "epochs": 2, "learning_rate": 3e-4} if quick else s


def train_once(rows: list[tuple], labels: list[str], dest: Path, cfg, task: str = "classification") -> Path:
    """A model trained from the base on `rows` (kept: a rerun of the benchmark reuses it): a classifier, or a
    tagger of the entity types `labels`."""
    from tools.models.classifier import train_classifier
    from tools.models.tagger import train_tagger

    if not (dest / "config.json").exists():
        fit = train_tagger if task == "ner" else train_classifier
        fit(None, [t for t, _ in rows], [l for _, l in rows], labels, dest, cfg)
    return dest


def score(task: str, texts: list[str], truth: list, before: list, after: list) -> tuple[float, int]:
    """(accuracy or entity F1, negative flips from `before` to `after`)."""
    if task == "ner":
        s = entity_test_scores(texts, truth, before, after)
        return s["test_f1"], s["test_flips"]
    s = test_scores(truth, before, after)
    return s["test_accuracy"], s["test_flips"]


def run_scenario(name: str, out: Path, seed: int, size: Size, quick: bool, data_dir: str | None, log=print) -> list[dict]:
    from tools.models.predict import predict
    from tools.production.lineage import parent_data_of

    from graph.service import start as run_pioneer

    scn = SCENARIOS[name]
    root = out / name
    info = build(scn, root / "data", seed, size, data_dir)
    labels = info["labels"]
    parent = read_jsonl(root / "data" / "parent.jsonl")
    test = read_jsonl(root / "data" / "union_test.jsonl")
    tx, ty = [r["input"] for r in test], [r["output"] for r in test]
    cfg = recipe(quick, scn.task)
    records: list[dict] = []

    def train(rows: list[tuple[str, str]], dest: Path) -> Path:
        return train_once(rows, labels, dest, cfg, scn.task)

    t0 = time.time()
    base_rows = [(r["input"], r["output"]) for r in parent]
    deployed = train(base_rows, root / "models" / "deployed")
    dep_pred = predict(deployed, tx)
    stage0 = {"scenario": name, "stage": 0, "score": score(scn.task, tx, ty, dep_pred, dep_pred)[0], "negative_flips": 0, "triage_precision": None,
              "triage_recall": None, "wall_s": round(time.time() - t0, 1)}
    records += [{**stage0, "system": s} for s in SYSTEMS]
    log(f"{name}: stage 0, deployed {stage0['score']:.3f} on {len(ty)} union-test examples")
    current = {s: deployed for s in SYSTEMS}
    prev_pred = {s: dep_pred for s in SYSTEMS}
    seen: list[dict] = []  # all traffic so far
    for st in info["stages"]:
        k = st["stage"]
        traffic = read_jsonl(root / "data" / f"stage{k}" / "traffic.jsonl")
        seen += traffic
        for system in SYSTEMS[1:]:
            t0 = time.time()
            tri = {"triage_precision": None, "triage_recall": None}
            if system == "naive":
                current[system] = train(base_rows + [(t["input"], t["judge"]) for t in seen], root / "models" / f"naive-{k}")
            elif system == "oracle":
                current[system] = train(base_rows + [(t["input"], t["truth"]) for t in seen if not t["poison"]],
                                        root / "models" / f"oracle-{k}")
            else:
                logs, key = render_logs(traffic, predict(current[system], [t["input"] for t in traffic]))
                stage_dir = root / "pioneer" / f"stage{k}"
                write_jsonl(stage_dir / "logs.jsonl", logs)
                # a model pioneer promoted carries its lineage (parent_data.jsonl); the stage-0 model has the parent file
                parent_file = None if parent_data_of(current[system]) else str((root / "data" / "parent.jsonl").resolve())
                inputs = {"model": str(Path(current[system]).resolve()), "logs": str((stage_dir / "logs.jsonl").resolve()),
                          "train_data": parent_file, "skip_bad_lines": False}
                _status, run_dir = run_pioneer(inputs, pioneer_settings(quick, root / "pioneer" / "home"), str(stage_dir / "run"))
                rep = json.loads((run_dir / "report.json").read_text())
                if rep.get("model_dir"):
                    current[system] = Path(rep["model_dir"])
                excluded = {e["id"] for e in rep.get("excluded", []) if e["category"] in ("noise", "poison")}
                t = triage_scores(key, excluded)
                tri = {k2: t[k2] for k2 in ("triage_precision", "triage_recall", "bad_lines", "bad_excluded", "clean_excluded")}
                tri["promoted"] = bool(rep.get("promoted"))
            pred = predict(current[system], tx)
            s, flips = score(scn.task, tx, ty, prev_pred[system], pred)
            rec = {"scenario": name, "stage": k, "system": system, "score": s,
                   "negative_flips": flips, **tri, "wall_s": round(time.time() - t0, 1)}
            prev_pred[system] = pred
            records.append(rec)
            log(f"{name}: stage {k} ({st['poison_rate']:.0%} poison), {system}: {rec['score']:.3f}, {rec['negative_flips']} flips"
                + (f", triage P {rec['triage_precision']} R {rec['triage_recall']}" if system == "pioneer" else "")
                + f" ({rec['wall_s']:.0f}s)")
        records += [{**stage0, "stage": k, "system": "deployed", "wall_s": 0.0}]
    return records


def table_rows(records: list[dict]):
    """(scenario, stage, {system: record}) in scenario order, then stage order: one table row each."""
    by: dict[tuple, dict] = {}
    for r in records:
        by.setdefault((r["scenario"], r["stage"]), {})[r["system"]] = r
    for (scn, stage) in sorted(by, key=lambda x: (list(SCENARIOS).index(x[0]), x[1])):
        yield scn, stage, by[(scn, stage)]


def print_table(records: list[dict]) -> str:
    lines = [f"{'scenario':18} {'stage':>5} " + " ".join(f"{s:>16}" for s in SYSTEMS) + f" {'pioneer triage P/R':>20}"]
    for scn, stage, row in table_rows(records):
        cells = [f"{r['score']:.3f} ({r['negative_flips']:>3})" if r else "-" for r in (row.get(s) for s in SYSTEMS)]
        p = row.get("pioneer") or {}
        tri = f"{p.get('triage_precision')}/{p.get('triage_recall')}" if p.get("triage_recall") is not None else "-"
        lines.append(f"{scn:18} {stage:>5} " + " ".join(f"{c:>16}" for c in cells) + f" {tri:>20}")
    lines.append("cells: union-test score (negative flips against the same system's previous stage)")
    for n in dict.fromkeys(r["scenario"] for r in records):
        if SCENARIOS[n].task == "ner":
            lines.append(f"note: {n}: {SCENARIOS[n].note}; the score is entity F1, a flip a sentence no longer exactly right")
    return "\n".join(lines)


def markdown_table(records: list[dict]) -> str:
    """The table as Markdown (for a README): score (negative flips), pioneer's decision and triage."""
    lines = ["| scenario | stage (poison) | " + " | ".join(SYSTEMS) + " | pioneer triage P / R |", "| --- " * (len(SYSTEMS) + 3) + "|"]
    for scn, stage, row in table_rows(records):
        cells = []
        for s in SYSTEMS:
            r = row.get(s)
            cell = "–" if r is None else f"{r['score']:.3f}" + (f" ({r['negative_flips']})" if stage else "")
            if r and s == "pioneer" and stage:
                cell += ", promoted" if r.get("promoted") else ", kept"
            cells.append(cell)
        p = row.get("pioneer") or {}
        tri = f"{p['triage_precision']:.2f} / {p['triage_recall']:.2f}" if p.get("triage_recall") is not None and p.get("triage_precision") is not None else ""
        rate = f" ({POISON_RATES[stage - 1]:.0%})" if stage else ""
        lines.append(f"| {scn} | {stage}{rate} | " + " | ".join(cells) + f" | {tri} |")
    return "\n".join(lines)


def page(records: list[dict]):
    """The results page: the union-test score (negative flips) of each system at each stage, and how pioneer ends
    against naive retraining where naive degrades."""
    from evals.pages import Page

    rows, ends = [], {}
    for scn, stage, row in table_rows(records):
        cells = {s: (f"{r['score']:.3f}" + (f" ({r['negative_flips']})" if stage else "")) if r else None for s, r in ((s, row.get(s)) for s in SYSTEMS)}
        p = row.get("pioneer") or {}
        rows.append({"scenario": scn, "stage": stage, **cells, "pioneer decision": ("promoted" if p.get("promoted") else "kept") if stage else None})
        ends[scn] = row
    never = [scn for scn in ends if all(b["score"] >= a["score"] - 1e-9 for a, b in _pairs(records, scn))]
    above = [scn for scn, row in ends.items() if row.get("naive") and row.get("pioneer") and row["pioneer"]["score"] >= row["naive"]["score"]]
    head = (f"pioneer never lowers the union score in {len(never)} of {len(ends)} scenarios; it ends at or above naive retraining "
            f"in {len(above)} of {len(ends)} ({', '.join(above) or 'none'})")
    return Page("adaptft", "AdaptFT-Bench: continual updates under poisoned logs", "pioneer bench adaptft",
                head, ["scenario", "stage", *SYSTEMS, "pioneer decision"], rows,
                "Cells: union-test score (negative flips against the same system's previous stage). Stages 1 to 3 add "
                f"{', '.join(f'{r:.0%}' for r in POISON_RATES)} poison. One seed; plots beside the results file.")


def _pairs(records: list[dict], scenario: str) -> list[tuple[dict, dict]]:
    """Pioneer's consecutive stages of a scenario."""
    got = sorted((r for r in records if r["scenario"] == scenario and r["system"] == "pioneer"), key=lambda r: r["stage"])
    return list(zip(got, got[1:]))


def plot(records: list[dict], scenario: str, dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for s in SYSTEMS:
        pts = sorted((r["stage"], r["score"]) for r in records if r["scenario"] == scenario and r["system"] == s)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
    ax.set_xticks([0, 1, 2, 3], ["0 clean", "1 (15%)", "2 (25%)", "3 (40%)"])
    ax.set_xlabel("stage (poison rate)")
    ax.set_ylabel("union-test score")
    ax.set_title(f"AdaptFT-Bench: {scenario}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pioneer bench adaptft", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=None, choices=list(SCENARIOS),
                    help=f"scenarios to run (default: {' '.join(DEFAULT)}; with --quick: demo demo-ner)")
    ap.add_argument("--data-dir", help="benchmark data (default: $PIONEER_DATA_DIR, else ../shared/datasets)")
    ap.add_argument("--out", default="bench_out/adaptft", help="results folder (default: bench_out/adaptft)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    ap.add_argument("--quick", action="store_true", help="a tiny size (CI runs it in about two minutes)")
    a = ap.parse_args(argv)
    names = a.scenarios or (["demo", "demo-ner"] if a.quick else DEFAULT)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    size = QUICK if a.quick else FULL
    t0 = time.time()
    records: list[dict] = []
    for n in names:
        recs = run_scenario(n, out, a.seed, size, a.quick, a.data_dir, log=lambda m: print(m, file=sys.stderr, flush=True))
        records += recs
        plot(records, n, out / f"{n}.png")
        write_json(out / "results.json", records)  # after every scenario: nothing lost on a crash
    table = print_table(records)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    footer = f"wall time {time.time() - t0:.0f} s, peak memory {peak_mb:.0f} MB, seed {a.seed}, {'quick' if a.quick else 'full'} size"
    print(table + "\n" + footer)
    (out / "table.txt").write_text(table + "\n" + footer + "\n")
    (out / "table.md").write_text(markdown_table(records) + "\n\n" + footer + "\n")
    if not a.quick:  # the quick size is the test suite's check, not a result
        from evals.pages import write

        print(f"page {write(page(records))}")
    return 0
