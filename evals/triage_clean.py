"""Triage on real clean logs: how many real failures it sets aside, as poison and as noise, and which.

    python -m evals.triage_clean [--data-dir ../shared/datasets] [--out bench_out/triage_clean]

Every correction in these deployments is the benchmark's own gold label, every input real traffic of the task, so
a line set aside as poison is a real request lost to training (the target: at most 1% of the failures), and a line
set aside as noise is either a gold label the trusted data contradicts (an annotation error caught, or a hard
case lost) or a mistake of the triage. Deployments: the Banking77 intent one (evals.banking_deployment) and the
MIT Restaurant and WNUT-17 entity ones (evals.entity_bench), clean, seed 0. Only the deployed model is trained.
Prints a table with examples and writes results.json.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from tools.store.data import load_examples, load_logs, write_json

DEPLOYMENTS = {  # name: (task, how to build it)
    "banking77": "classification",
    "mit_restaurant": "ner",
    "wnut17": "ner",
}


def build(name: str, out: Path, data_dir: str | None) -> None:
    if name == "banking77":
        from evals.banking_deployment import build as build_banking

        build_banking(out, seed=0, data_dir=data_dir)
    else:
        from evals.entity_bench import LOGS_N, PARENT_N, build as build_entities

        build_entities(out, name, 0, PARENT_N, LOGS_N, data_dir, wrong_rate=0.0, poison_rate=0.0)


def triage(dep: Path, task: str) -> tuple[list, list[dict]]:
    from tools.models.embed import embed
    from tools.production import diagnosis as dx

    records = load_logs(dep / "logs.jsonl", task=task).records
    parent = load_examples(dep / "parent.jsonl", task=task)
    log_emb, parent_emb = embed([r.input for r in records]), embed([e.input for e in parent])
    vocab = dx.tokenizer_vocab("minilm")
    if task == "ner":
        from tools.models.tagger import entity_types
        from tools.production import entities as en

        return records, en.triage(records, parent, entity_types(dep / "deployed"), log_emb, parent_emb, vocab)
    from tools.models.classifier import predict_proba

    probs, labels = predict_proba(dep / "deployed", [r.input for r in records])
    return records, dx.triage(records, parent, labels, probs.astype(np.float32), log_emb, parent_emb, vocab)


def score(records: list, tri: list[dict]) -> dict:
    """Among the failures: how many set aside as poison and as noise, by reason, with examples."""
    fails = [(r, t) for r, t in zip(records, tri) if r.verdict != "pass"]
    by = Counter((t["category"], t["reason"]) for _, t in fails if t["category"] in ("poison", "noise"))
    poison = sum(n for (c, _), n in by.items() if c == "poison")
    noise = sum(n for (c, _), n in by.items() if c == "noise")
    examples = {f"{c}:{why}": [r.input[:90] for r, t in fails if (t["category"], t["reason"]) == (c, why)][:3] for c, why in by}
    return {"failures": len(fails), "poison": poison, "poison_share": round(poison / max(1, len(fails)), 4),
            "noise": noise, "noise_share": round(noise / max(1, len(fails)), 4),
            "reasons": {f"{c}:{why}": n for (c, why), n in sorted(by.items())}, "examples": examples}


def page(results: dict):
    """The results page: failures set aside as poison and as noise on each real clean deployment."""
    from evals.pages import Page

    rows = [{**r, "poison_share": f"{r['poison_share']:.1%}", "noise_share": f"{r['noise_share']:.1%}",
             "poison examples": " / ".join((r.get("examples") or {}).get(next((k for k in r.get("examples", {}) if k.startswith("poison")), ""), [])[:2])}
            for r in results["rows"]]
    head = ", ".join(f"{r['deployment']} {r['poison_share']}" for r in rows)
    return Page("triage_clean", "Triage on real clean logs", "python -m evals.triage_clean",
                f"real failures set aside as poison (at most 1% wanted): {head}",
                ["deployment", "failures", "poison", "poison_share", "noise", "noise_share", "poison examples"], rows,
                "Every correction here is the benchmark's gold label and every input real traffic of the task, so a failure "
                "set aside as poison is a real request lost to training; noise set aside is in part the gold labels' own "
                "inconsistency.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="benchmark data (default: $PIONEER_DATA_DIR, else ../shared/datasets)")
    ap.add_argument("--out", default="bench_out/triage_clean")
    ap.add_argument("--deployments", nargs="+", default=list(DEPLOYMENTS), choices=list(DEPLOYMENTS))
    a = ap.parse_args(argv)
    rows = []
    for name in a.deployments:
        dep = Path(a.out) / name / "deployment"
        build(name, dep, a.data_dir)
        records, tri = triage(dep, DEPLOYMENTS[name])
        rows.append({"deployment": name, **score(records, tri)})
        r = rows[-1]
        print(f"| {name} | {r['failures']} failures | poison {r['poison']} ({r['poison_share']:.1%}) | noise {r['noise']} "
              f"({r['noise_share']:.1%}) | {r['reasons']} |", flush=True)
        for k, ex in r["examples"].items():
            print(f"    {k}: " + " || ".join(ex))
    write_json(Path(a.out) / "results.json", {"rows": rows})
    from evals.pages import write

    print(f"results in {Path(a.out) / 'results.json'}; page {write(page({'rows': rows}))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
