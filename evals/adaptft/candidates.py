"""Every candidate pioneer gated in an AdaptFT-Bench run, scored on the scenario's union test set.

    python -m evals.adaptft.candidates bench_out/adaptft/trec [--out candidates.json]

Tells a refusal that protected users from one that cost them: for each stage, each candidate model the gate saw
(the fine-tuned model and each interpolated one), its union-test accuracy, and the gate's own net-gain test (exact
one-sided McNemar, fixes against flips of the deployed model's answers) recomputed on the union test, beside the
gate's decision. Classification scenarios only. Prints a table and writes its rows as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.scorers import test_scores
from tools.gate import mcnemar_greater
from tools.models.metrics import negative_flips
from tools.store.data import read_jsonl


def stage_rows(run: Path, x: list[str], y: list[str]) -> list[dict]:
    from tools.models.classifier import predict

    rep = json.loads((run / "report.json").read_text())
    before = predict(rep["deployed_model"], x)
    decisions = {Path(it["model_dir"]).name: it.get("decision") or "" for it in rep.get("iterations", []) if it.get("model_dir")}
    rows = [{"candidate": "deployed", "test_accuracy": test_scores(y, before, before)["test_accuracy"]}]
    for c in sorted(p for p in (run / "candidates").glob("*") if (p / "config.json").exists()):
        after = predict(c, x)
        scores, fixes = test_scores(y, before, after), len(negative_flips(y, after, before))  # fixes: right now, wrong before
        rows.append({"candidate": c.name, **scores, "test_fixes": fixes,
                     "test_p": round(mcnemar_greater(fixes, scores["test_flips"]), 4),
                     "gate": decisions.get(c.name, "(the model before interpolation)")[:60]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario_dir", type=Path, help="one scenario's folder of a `pioneer bench adaptft --out` run")
    ap.add_argument("--out", type=Path, help="rows as JSON (default: <scenario_dir>/candidates.json)")
    args = ap.parse_args(argv)
    test = read_jsonl(args.scenario_dir / "data" / "union_test.jsonl")
    x, y = [r["input"] for r in test], [r["output"] for r in test]
    if y and not isinstance(y[0], str):
        ap.error("an entity scenario: only classification scenarios are scored here")
    rows = []
    for run in sorted((args.scenario_dir / "pioneer").glob("stage*/run")):
        rows += [{"stage": run.parent.name, **r} for r in stage_rows(run, x, y)]
    cols = ["stage", "candidate", "test_accuracy", "test_fixes", "test_flips", "test_p", "gate"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    (args.out or args.scenario_dir / "candidates.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
