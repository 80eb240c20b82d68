"""The whole production graph on a tiny generated task with a tiny model: promotion, report, registry,
memory, bad input, kill-and-resume, and the chat-model path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph.cli import main
from tests.procs import kill_at_first_training_step

TINY = ["--learning-rate", "3e-3", "--epochs", "4", "--max-iterations", "1", "--gate", "absolute"]  # a tiny model: count every flip


def improve_args(deployment, tiny_base, out, *extra):
    return ["improve", "--model", str(deployment / "deployed"), "--logs", str(deployment / "logs.jsonl"),
            "--train-data", str(deployment / "parent.jsonl"), "--base", tiny_base, "--out", str(out), "--quiet", *TINY, *extra]


def test_improve_promotes_behind_the_gate_and_reports(deployment, tiny_base, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")) == 0
    rep = json.loads((run / "report.json").read_text())
    for key in ("mode", "task", "base_model", "baseline", "final", "promoted", "model_dir", "gate", "iterations", "clusters", "excluded"):
        assert key in rep
    assert rep["mode"] == "production" and rep["task"] == "classification" and rep["promoted"] is True
    first = [it for it in rep["iterations"] if it["iteration"] == 1]
    assert len(first) >= 2 and len({json.dumps(it["config"], sort_keys=True) for it in first}) == len(first)
    assert rep["iterations"][-1]["stage"] == "final" and rep["iterations"][-1]["decision"] == "promoted"
    assert all({"strategy", "data_mix", "config", "gate", "decision"} <= it.keys() for it in rep["iterations"])
    # only the selection the refit came from is said to have been refit
    refit = [e["strategy"] for e in rep["iterations"] if "refit as final" in e["decision"]]
    assert refit and refit == [e["selected"] for e in rep["iterations"] if e["stage"] == "final"]
    assert rep["clusters"] and all(c["kind"] in {"fixable", "noise", "poison"} for c in rep["clusters"])
    # poisoned lines are excluded and listed by reason; they are never in a training mix
    key = {k["id"]: k["noise"] for k in map(json.loads, (deployment / "key.jsonl").read_text().splitlines())}
    excluded = {e["id"]: e["reason"] for e in rep["excluded"]}
    poison = [i for i, n in key.items() if n in ("injection", "gibberish")]
    assert poison and all(i in excluded for i in poison)
    mixes = [json.loads(l) for m in (run / "work").glob("mix-*.jsonl") for l in m.read_text().splitlines()]
    assert not {m["ref"] for m in mixes} & set(excluded)
    # the deployed model ran once per text: the diagnosis's logs and every mix's teacher share its probabilities
    seen = [t for t, _ in json.loads((run / "work" / "deployed_probs_by_text.json").read_text())]
    logs = [json.loads(l)["input"] for l in (deployment / "logs.jsonl").read_text().splitlines()]
    assert len(seen) == len(set(seen)) and set(logs) | {m["input"] for m in mixes} <= set(seen)
    # the model loads with plain transformers; the registry has it as v0001
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(rep["model_dir"])
    assert set(model.config.id2label.values()) >= {"card_lost", "card_stolen"}
    assert rep["registry"]["version"] == "v0001" and Path(rep["registry"]["registry_dir"]).exists()
    md = (run / "report.md").read_text()
    assert md.startswith("# Pioneer report") and "Parent data: " in md
    # the headline rests on held-out lines only: the final refit trained on the tuning split, so it drops out
    trained = {m["ref"] for m in map(json.loads, Path(rep["iterations"][-1]["mix_file"]).read_text().splitlines())}
    splits = json.loads((run / "work" / "splits.json").read_text())
    held = (set(splits["regression"]) | set(splits["tuning"]) | set(splits["held_out_failures"])) - trained
    assert rep["final"]["held_out"]["n"] == rep["baseline"]["held_out"]["n"] == len(held) > 0
    assert md.splitlines()[8].startswith(f"| accuracy on the traffic, estimated from {len(held)} held-out log lines |")
    assert [e["node"] for e in rep["seconds_per_node"]][:3] == ["ingest", "diagnose", "plan"]
    assert {e["node"]: e["runs"] for e in rep["seconds_per_node"]}["train"] == 2 and "## Seconds per node" in md
    assert "| poison | prompt_injection |" in md and "instructions aimed at the model" in md  # each reason explained
    out = capsys.readouterr().out
    assert "promoted deployed v0001" in out and "negative flips" in out
    # the promoted model carries its lineage: the parent data and the trusted log lines, never the excluded ones;
    # a run on it without --train-data replays that
    from agents.data_scout import ingest
    from tools.store.data import read_jsonl

    lineage = read_jsonl(Path(rep["model_dir"]) / "parent_data.jsonl")
    parent = read_jsonl(deployment / "parent.jsonl")
    logs = {r["id"]: r for r in read_jsonl(deployment / "logs.jsonl")}
    texts = {r["input"] for r in lineage}
    assert {r["input"] for r in parent} <= texts and len(lineage) > len(parent)
    assert not texts & {logs[i]["input"] for i in excluded} - {r["input"] for r in parent}
    nxt = ingest({"model": rep["model_dir"], "logs": str(deployment / "logs.jsonl")}, None)
    assert nxt["train_data"].endswith("parent_data.jsonl") and nxt["ingest"]["parent_from_lineage"] is True
    assert nxt["ingest"]["parent_examples"] == len(lineage)

    # a second run on the same deployment: memory supplies the first strategy, the ratchet gates on v0001's set
    run2 = tmp_path / "run2"
    assert main(improve_args(deployment, tiny_base, run2, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")) == 0
    rep2 = json.loads((run2 / "report.json").read_text())
    assert rep2["memory"]["used"] is True and rep2["memory"]["strategy"].startswith("memory:")
    assert rep2["iterations"][0]["gate"]["slices"]["previous_version"]["version"] == "v0001"
    assert rep2["registry"]["version"] == "v0002"
    assert main(["rollback", "--name", "deployed"]) == 0 and "current is now v0001" in capsys.readouterr().out
    assert main(["rollback", "--name", "deployed"]) == 0 and "current is now v0000" in capsys.readouterr().out  # the deployed model


def test_strict_gate_promotes_nothing(deployment, tiny_base, tmp_path):
    run = tmp_path / "run"
    assert main(improve_args(deployment, tiny_base, run, "--max-flips", "0", "--min-fixed", "1.0")) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] is False and rep["final"] is None and rep["model_dir"] is None
    assert not (run / "model").exists()
    assert all(it["decision"].startswith("rejected") for it in rep["iterations"])
    assert "nothing promoted" in rep["outcome"]


@pytest.mark.parametrize("content, reason", [
    ('{"id": "1", "input": "x", "prediction": "card_lost", "verdict": "pass"}\n{"id": "2", "inp', ":2: not valid JSON"),
    ('{"id": "1", "input": "x", "verdict": "pass"}\n', ":1: missing field 'prediction'"),
    ('{"id": "1", "input": "x", "prediction": "card_lost", "verdict": "ok"}\n', ":1: unknown verdict"),
    ("", ": empty file"),
    (b'{"id": "1", "input": "\xff", "prediction": "card_lost", "verdict": "pass"}\n', ":1: not UTF-8"),
])
def test_bad_logs_exit_2_without_a_run_folder(deployment, tmp_path, capsys, content, reason):
    logs = tmp_path / "logs.jsonl"
    logs.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "run"
    code = main(["improve", "--model", str(deployment / "deployed"), "--logs", str(logs), "--out", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert str(logs) + reason in err


def test_logs_without_fixable_failures_train_nothing(deployment, tiny_base, tmp_path, capsys):
    logs = tmp_path / "passes.jsonl"
    rows = [json.loads(l) for l in (deployment / "logs.jsonl").read_text().splitlines()]
    logs.write_text("".join(json.dumps(r) + "\n" for r in rows if r["verdict"] == "pass"))
    run = tmp_path / "run"
    assert main(["improve", "--model", str(deployment / "deployed"), "--logs", str(logs), "--base", tiny_base, "--out", str(run), "--quiet"]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] is False and rep["iterations"] == [] and not (run / "candidates").exists()
    assert "no fixable failures" in rep["outcome"]


def test_missing_model_is_bad_input(deployment, tmp_path, capsys):
    assert main(["improve", "--model", str(tmp_path / "nope"), "--logs", str(deployment / "logs.jsonl"), "--out", str(tmp_path / "r")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_killed_run_resumes_without_redoing_finished_steps(deployment, tiny_base, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-u", "-m", "graph.cli", *improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")]
    args.remove("--quiet")
    args[args.index("--epochs") + 1] = "30"  # long enough to be killed in the middle
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kill_at_first_training_step(args, env, Path(__file__).parents[1])
    assert not (run / "model").exists() and json.loads((run / "run.json").read_text())["status"] == "running"
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    assert "ingest" not in done.stderr and "diagnose" not in done.stderr  # finished steps are not redone
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] and (run / "model" / "config.json").exists()
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_chat_model_names_patterns_and_adds_paraphrases(deployment, tiny_base, tmp_path):
    from tests.fake_openai import FakeOpenAI

    def reply(prompt: str) -> str:
        if prompt.startswith("Name this group"):
            return "Stolen versus lost cards"
        label = prompt.split("intent '")[1].split("'")[0]
        return json.dumps([f"paraphrase {i} about {label.replace('_', ' ')}" for i in range(3)])

    fake = FakeOpenAI(reply)
    try:
        run = tmp_path / "run"
        assert main(improve_args(deployment, tiny_base, run, "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1",
                                 "--chat-model", "fake-model", "--chat-base-url", fake.url)) == 0
    finally:
        fake.close()
    rep = json.loads((run / "report.json").read_text())
    assert any(c["name"] == "Stolen versus lost cards" and c.get("auto_name") for c in rep["clusters"])
    assert any((it["data_mix"]["composition"].get("paraphrase") or 0) > 0 for it in rep["iterations"])
    para = [json.loads(l) for l in (run / "work" / "paraphrases.jsonl").read_text().splitlines()]
    assert para and all(p["input"].startswith("paraphrase") for p in para)
    assert len(fake.prompts) > 2


def test_approval_pauses_before_promotion_and_resumes_from_the_cli(deployment, tiny_base, tmp_path, capsys):
    loose = ["--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1", "--require-approval"]
    run = tmp_path / "run"
    assert main(improve_args(deployment, tiny_base, run, *loose)) == 3  # waiting: nothing promoted yet
    assert json.loads((run / "run.json").read_text())["status"] == "awaiting_approval"
    err = capsys.readouterr().err
    assert "waits for approval" in err and "negative flips on the regression set" in err and f"pioneer approve {run}" in err
    assert not (run / "model").exists() and not (run / "report.json").exists()
    assert main(["approve", str(tmp_path / "nowhere")]) == 2
    assert main(["approve", str(run), "--reject", "--note", "too risky", "--by", "ana", "--quiet"]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"] is False and "reviewer rejected" in rep["outcome"] and "too risky" in rep["outcome"]
    assert rep["approval"] == {"required": True, "decision": "reject", "note": "too risky", "by": "ana"}
    assert any("rejected by the reviewer" in it["decision"] for it in rep["iterations"])
    assert main(["approve", str(run)]) == 2  # answered already

    run2 = tmp_path / "run2"
    assert main(improve_args(deployment, tiny_base, run2, *loose)) == 3
    assert main(["approve", str(run2), "--quiet"]) == 0
    rep2 = json.loads((run2 / "report.json").read_text())
    assert rep2["promoted"] is True and (run2 / "model" / "config.json").exists()
    assert rep2["approval"]["decision"] == "approve"


def test_a_registry_entry_of_another_deployment_is_refused_by_content_hash(deployment, tiny_base, tmp_path, capsys):
    from tools.store.registry import Registry

    home = tmp_path / "home"
    other = tmp_path / "deployed"  # another deployment's model, in a folder of the same name
    other.mkdir()
    (other / "config.json").write_text("{}")
    (other / "model.safetensors").write_bytes(b"not the same weights")
    reg = Registry("deployed", home / "registry")
    with reg.lock():
        reg.register_baseline(other, {})
    run = tmp_path / "run"
    assert main(improve_args(deployment, tiny_base, run, "--home", str(home))) == 2
    err = capsys.readouterr().err
    assert "none of the versions of registry entry 'deployed'" in err and "--name" in err and not run.exists()
    assert reg.version_of(deployment / "deployed") is None and reg.version_of(other) == "v0000"


def test_the_nodes_after_ingest_parse_the_logs_once(deployment, tiny_base, tmp_path, monkeypatch):
    """Diagnose, curriculum, gate, promote and report all read the logs: one parse serves them (the spy counts the
    real parser's calls)."""
    import agents.run_data as rd

    calls = []
    real = rd.load_logs
    monkeypatch.setattr(rd, "load_logs", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(rd, "_PARSED", {})
    assert main(improve_args(deployment, tiny_base, tmp_path / "run", "--max-flips", "1000", "--min-fixed", "0", "--label-tolerance", "1")) == 0
    assert calls == [str(deployment / "logs.jsonl")]
