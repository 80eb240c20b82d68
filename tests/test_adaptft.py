"""AdaptFT-Bench: scenarios are reproducible from a seed, byte for byte, with the noise recorded per line;
the quick benchmark runs every system through every stage and writes the table, the JSON and the plot."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from evals.adaptft.scenarios import POISON_KINDS, QUICK, SCENARIOS, build, render_logs


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.jsonl"))}


def test_same_seed_same_logs_byte_for_byte(tmp_path):
    a = build(SCENARIOS["demo"], tmp_path / "a", seed=3, size=QUICK)
    b = build(SCENARIOS["demo"], tmp_path / "b", seed=3, size=QUICK)
    build(SCENARIOS["demo"], tmp_path / "c", seed=4, size=QUICK)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")
    assert a == b and [s["poison_rate"] for s in a["stages"]] == [0.15, 0.25, 0.40]
    traffic = [json.loads(l) for k in (1, 2, 3) for l in (tmp_path / "a" / f"stage{k}" / "traffic.jsonl").read_text().splitlines()]
    poisoned = [t for t in traffic if t["poison"]]
    assert poisoned and {t["noise"] for t in poisoned} <= set(POISON_KINDS)
    assert all(t["judge"] != t["truth"] for t in poisoned if t["noise"].startswith("wrong"))
    assert any(t["noise"] and not t["poison"] for t in traffic)  # fixable perturbations, label kept
    # the union test split is fixed, labelled with the truth, and never poisoned
    test = [json.loads(l) for l in (tmp_path / "a" / "union_test.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in test} == {1, 2, 3} and not {r["input"] for r in test} & {t["input"] for t in traffic}
    # logs as a system's model would write them: verdicts follow the judge, the key stays hidden
    logs, key = render_logs(traffic[:5], [traffic[0]["judge"]] * 5)
    assert logs[0]["verdict"] == "pass" and all("truth" not in l and "noise" not in l for l in logs)
    assert all(l["correction"] == t["judge"] for l, t in zip(logs, traffic) if l["verdict"] == "fail")


def test_quick_benchmark_writes_table_json_and_plot(tmp_path, capsys):
    from graph.cli import main

    out = tmp_path / "bench"
    assert main(["bench", "adaptft", "--quick", "--out", str(out)]) == 0
    records = json.loads((out / "results.json").read_text())
    assert {(r["stage"], r["system"]) for r in records} == {(s, m) for s in range(4) for m in ("deployed", "naive", "pioneer", "oracle")}
    for r in records:
        assert {"scenario", "stage", "system", "score", "negative_flips", "triage_precision", "triage_recall", "wall_s"} <= r.keys()
    pioneer = [r for r in records if r["system"] == "pioneer" and r["stage"] > 0]
    assert all(r["triage_recall"] is not None and r["triage_recall"] > 0 for r in pioneer)
    assert (out / "demo.png").stat().st_size > 1000
    md = (out / "table.md").read_text()
    assert md.startswith("| scenario | stage (poison) |") and "| demo | 3 (40%) |" in md and ("promoted" in md or "kept" in md)
    table = capsys.readouterr().out
    assert "pioneer triage P/R" in table and "wall time" in table and "peak memory" in table
