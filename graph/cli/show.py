"""What the CLI prints for a person: progress lines, an approval request (and the question), a run's result."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path


def say(line: str) -> None:
    print(line, file=sys.stderr)


def progress_printer():
    """Progress chunks as timed lines on standard error (training steps at most every 5 seconds)."""
    t0, last = time.time(), [0.0]

    def show(chunk: dict) -> None:
        if chunk.get("stage") == "train" and "step" in chunk and chunk.get("step") != chunk.get("total"):
            if time.time() - last[0] < 5:
                return
            last[0] = time.time()
        print(f"[{time.time() - t0:6.0f}s] {chunk.get('stage'):>10}  {chunk.get('message')}", file=sys.stderr, flush=True)

    return show


def request(req: dict) -> None:
    """An approval request: the run, the candidate, the gate's figures, flip examples."""
    from tools.gate import describe

    g = req["gate"]
    print(f"\n{req.get('run_dir') or 'the run'}: {req['candidate']} passed the gate and waits for approval", file=sys.stderr)
    print(f"  {describe(g)}; held-out failures fixed {g['fixed']}", file=sys.stderr)
    for name, sl in (g.get("slices") or {}).items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sl.items() if not isinstance(v, (dict, list))), file=sys.stderr)
    for ex in req.get("flip_examples", []):
        print(f"  flip: {ex['input'][:70]!r}: {ex['label']} -> {ex['now']}", file=sys.stderr)
    if req.get("error"):
        print(f"  ({req['error']})", file=sys.stderr)


def asker(interactive: bool):
    """The run service's `ask`: show the request, then ask at a terminal; elsewhere decide later (None)."""

    def ask(req: dict) -> dict | None:
        request(req)
        return _ask() if interactive else None

    return ask


def _ask() -> dict | None:
    try:
        a = input("approve or reject? [approve/reject, empty: decide later] ").strip().lower()
    except EOFError:
        return None
    if a not in ("approve", "reject", "a", "r"):
        return None
    note = input("note (optional): ").strip()
    return {"decision": "approve" if a.startswith("a") else "reject", "note": note, "by": user()}


def waiting(run_dir: Path) -> None:
    print(f"\nwaiting for approval. Answer with:\n  pioneer approve {run_dir}            (promote)\n"
          f"  pioneer approve {run_dir} --reject   (keep the deployed model)", file=sys.stderr)


def user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return ""


def result(run_dir: Path) -> None:
    """A production run's result: the outcome, deployed against promoted, the gate, what was excluded."""
    from tools.gate import describe
    from tools.store.report import summary_table

    rep = json.loads((run_dir / "report.json").read_text())
    print(f"\n{rep['outcome']}")
    rows = summary_table(rep)
    w = max(len(label) for label, _, _ in rows)
    print(f"{'':{w}} {'deployed':>10} {'promoted':>10}")
    for label, b, f in rows:
        print(f"{label:{w}} {b:>10} {f:>10}")
    g = rep.get("gate") or {}
    if g:
        print(f"gate: {describe(g)}")
    ex = rep.get("excluded") or []
    if ex:
        print("excluded: " + ", ".join(f"{k} {v}" for k, v in Counter(f"{e['category']}/{e['reason']}" for e in ex).most_common()))
    if rep.get("memory", {}).get("used"):
        print(f"memory: started from {rep['memory']['strategy']} ({rep['memory']['matches']} similar past patterns)")
    where(run_dir, rep)


def where(run_dir: Path, rep: dict) -> None:
    print(f"report: {run_dir / 'report.md'}" + (f"\nmodel:  {rep['model_dir']}" if rep.get("model_dir") else ""))


def demo_truth(scores: dict) -> None:
    """The demo's own answer key: both models on the held-out test set, triage against the key."""
    line = f"\nheld-out test ({scores['test_n']} examples no log came from): deployed {scores['deployed_accuracy']:.3f}"
    if scores.get("promoted_accuracy") is not None:
        line += f" -> promoted {scores['promoted_accuracy']:.3f}, {scores['test_flips']} negative flips"
    print(line)
    t = scores["triage"]
    if t["bad_lines"]:
        print(f"triage against the answer key: {t['bad_excluded']} of {t['bad_lines']} noisy or poisoned lines excluded, "
              f"{t['clean_excluded']} clean lines excluded by mistake")
