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


def test_entity_scenario_keeps_every_entity_through_the_noise_and_judges_span_sets(tmp_path):
    from tools.fixtures.demo import CITIES, FIRMS, PEOPLE
    from tools.kinds.spans import check

    info = build(SCENARIOS["demo-ner"], tmp_path / "n", seed=1, size=QUICK)
    assert info["labels"] == ["LOC", "ORG", "PER"] and info["scenario"]["task"] == "ner"
    traffic = [json.loads(l) for k in (1, 2, 3) for l in (tmp_path / "n" / f"stage{k}" / "traffic.jsonl").read_text().splitlines()]
    test = [json.loads(l) for l in (tmp_path / "n" / "union_test.jsonl").read_text().splitlines()]
    perturbed = [t for t in traffic if t["noise"] and not t["poison"]] + [r for r in test if r["noise"]]
    assert perturbed and {t["noise"] for t in perturbed} - {"casing"}
    for t in traffic:  # every label is a valid span set of its own input
        assert check(t["input"], t["judge"]) is None and (t["poison"] or check(t["input"], t["truth"]) is None)
    for t in perturbed:  # a fixable perturbation moves the entities, never changes their words
        spans = t.get("truth", t.get("output"))
        assert spans and all(t["input"][s["start"]:s["end"]].lower() in PEOPLE + CITIES + FIRMS for s in spans)
    poisoned = [t for t in traffic if t["poison"]]
    assert poisoned and "negation" not in {t["noise"] for t in poisoned}  # a negation keeps the entities: not poison
    assert all(t["judge"] != t["truth"] for t in poisoned if t["noise"] == "wrong_random")
    # the same spans in another order are the same answer; one entity more is a failure with the judge's correction
    t = next(t for t in traffic if not t["poison"] and len(t["judge"]) > 1)
    logs, _ = render_logs([t, t], [t["judge"][::-1], t["judge"] + [{"start": 0, "end": 1, "label": "PER"}]])
    assert [l["verdict"] for l in logs] == ["pass", "fail"] and logs[1]["correction"] == t["judge"]


def test_quick_benchmark_writes_table_json_and_plot(tmp_path, capsys):
    from graph.cli import main

    out = tmp_path / "bench"
    assert main(["bench", "adaptft", "--quick", "--out", str(out)]) == 0
    records = json.loads((out / "results.json").read_text())
    for scn in ("demo", "demo-ner"):
        assert {(r["stage"], r["system"]) for r in records if r["scenario"] == scn} == {
            (s, m) for s in range(4) for m in ("deployed", "naive", "pioneer", "oracle")}
    for r in records:
        assert {"scenario", "stage", "system", "score", "negative_flips", "triage_precision", "triage_recall", "wall_s"} <= r.keys()
    pioneer = [r for r in records if r["system"] == "pioneer" and r["stage"] > 0]
    assert all(r["triage_recall"] is not None and r["triage_recall"] > 0 for r in pioneer)
    for scn in ("demo", "demo-ner"):  # the gate's promise: pioneer's union score never drops from one stage to the next
        scores = [next(r["score"] for r in records if r["scenario"] == scn and r["stage"] == k and r["system"] == ("deployed" if k == 0 else "pioneer"))
                  for k in range(4)]
        assert all(b >= a for a, b in zip(scores, scores[1:])), (scn, scores)
    assert (out / "demo.png").stat().st_size > 1000 and (out / "demo-ner.png").exists()
    ner = {(r["stage"], r["system"]): r["score"] for r in records if r["scenario"] == "demo-ner"}
    assert ner[(3, "oracle")] > ner[(0, "deployed")]  # entity F1: the traffic's true spans teach the tagger
    md = (out / "table.md").read_text()
    assert md.startswith("| scenario | stage (poison) |") and "| demo | 3 (40%) |" in md and ("promoted" in md or "kept" in md)
    table = capsys.readouterr().out
    assert "pioneer triage P/R" in table and "wall time" in table and "peak memory" in table and "entity F1" in table

    from evals.adaptft.candidates import main as candidates  # every gated model, scored on the union test

    assert candidates([str(out / "demo")]) == 0
    rows = json.loads((out / "demo" / "candidates.json").read_text())
    n = sum(1 for _ in (out / "demo" / "data" / "union_test.jsonl").open())
    assert {r["stage"] for r in rows} == {"stage1", "stage2", "stage3"} and any(r["gate"].startswith(("promoted", "rejected")) for r in rows if "gate" in r)
    for r in rows:
        if r["candidate"] != "deployed":  # the accuracy change is the fixes less the flips
            dep = next(d for d in rows if d["stage"] == r["stage"] and d["candidate"] == "deployed")
            assert abs(r["test_accuracy"] - dep["test_accuracy"] - (r["test_fixes"] - r["test_flips"]) / n) < 1e-3
    assert "| stage1 | deployed |" in capsys.readouterr().out
