"""Generation as a task kind: `pioneer new` trains a causal LM end to end on free text (a tiny Llama made in the test),
judged by the verifier the data's answers allow; the search slices the data so no example trains twice before every
one has trained once; chat-message inputs and several references read from the data; production refuses free-text
logs with the reason."""

from __future__ import annotations

import json
import random

import pytest

from graph.cli import main
from tools.coldstart import free_search

NOUNS = ["cat", "mat", "paris", "france", "fine", "maybe", "yes", "no"]


def _sentences(path, n: int = 400, seed: int = 0):
    """Inputs naming a noun; answers a sentence about it (the template is learnable in a few dozen steps)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        noun = rng.choice(NOUNS)
        rows.append({"input": f"tell me about the {noun} number {i}", "output": f"the {noun} sat on the mat with the cat in paris ok"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_new_trains_a_generator_scored_by_its_verifier(tmp_path, tiny_generator, monkeypatch):
    monkeypatch.setattr(free_search, "FIRST_RATES", (1e-2, 3e-2))  # a 2-layer model learns at rates a 135M one would not
    (tmp_path / "data").mkdir()
    data = _sentences(tmp_path / "data" / "notes.jsonl")
    run, home = tmp_path / "run", tmp_path / "home"
    assert main(["new", "Write a one-sentence note about each request", "--data", str(data), "--base", tiny_generator,
                 "--home", str(home), "--out", str(run), "--budget-minutes", "10", "--quiet"]) == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["spec"]["kind"] == "generation" and rep["spec"]["metric"] == "rouge_l" and "ROUGE-L" in rep["spec"]["metric_why"]
    assert rep["final"]["verifier"] == "rouge_l" and rep["final"]["score"] > rep["baseline"]["score"] + 0.2
    assert "metric rouge_l" in (run / "report.md").read_text()
    # the first iteration's best continues on the examples it has not seen: every example once
    its = rep["iterations"]
    first = [e for e in its if e["iteration"] == 1]
    rest = next(e for e in its if e["strategy"].endswith("+rest"))
    parent = max(first, key=lambda e: e["score"])
    assert rest["config"]["continue_from"] == parent["model_dir"] and rest["config"]["train"]["learning_rate"] == parent["config"]["train"]["learning_rate"]
    assert parent["examples"] + rest["examples"] == rep["evaluation_set"]["train"]
    from tools.store.artifacts import mix_file
    from tools.store.workspace import Workspace

    ws = Workspace(run)
    seen = {r["input"] for r in ws.read(mix_file(1, parent["strategy"]))}
    later = {r["input"] for r in ws.read(mix_file(rest["iteration"], rest["strategy"]))}
    assert seen and later and not seen & later
    # a plain transformers folder, its answer length set from the training answers
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run / "model")
    assert 16 <= model.generation_config.max_new_tokens <= 1024
    assert rep["registry"]["version"] == "v0001"


def test_the_search_slices_once_then_halves_the_rate_instead_of_repeating():
    cfgs = free_search.first([], 400)
    assert [c["train"]["learning_rate"] for c in cfgs] == list(free_search.FIRST_RATES)
    assert {c["data"]["examples"] for c in cfgs} == {80} and all(c["train"]["lora_r"] == 16 for c in cfgs)
    best = {"strategy": "a", "iteration": 1, "score": 0.3, "model_dir": "/runs/candidates/1-a", "config": cfgs[0]}
    (nxt,), why = free_search.revise(best, 2)
    assert nxt["data"]["skip"] == 80 and nxt["data"]["examples"] is None and nxt["continue_from"] == "/runs/candidates/1-a"
    assert "after the first 80" in why
    (again,), _ = free_search.revise(best, 3)  # iteration 2 did not beat it: the same step at half the rate, not a repeat
    assert again["train"]["learning_rate"] == nxt["train"]["learning_rate"] / 2 and again["name"] != nxt["name"]
    whole = {**best, "strategy": "a+rest", "iteration": 2, "config": nxt}
    (more,), why = free_search.revise(whole, 3)
    assert more["data"]["skip"] == 0 and more["train"]["learning_rate"] == nxt["train"]["learning_rate"] / 2 and "one more pass" in why
    assert all(c["data"]["examples"] is None for c in free_search.first([], 30))  # too few to slice: whole from the start
    rows = list(range(100))
    head = free_search.slice_rows(rows, {"examples": 30, "skip": 0}, order_seed=7)
    tail = free_search.slice_rows(rows, {"examples": None, "skip": 30}, order_seed=7)
    assert len(head) == 30 and sorted(head + tail) == rows


def test_chat_messages_and_several_references_read_from_the_data(tmp_path):
    from tools.coldstart.sources import load_source
    from tools.models.causal import messages
    from tools.store.data import DataError, load_examples

    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]
    f = tmp_path / "chat.jsonl"
    f.write_text(json.dumps({"input": chat, "output": "Hello! How can I help you today?"}) + "\n"
                 + json.dumps({"input": "plain prompt", "output": "A plain answer that is a sentence."}) + "\n")
    rows = load_examples(f, task="generation")
    assert messages(rows[0].input) == chat and messages(rows[1].input) == [{"role": "user", "content": "plain prompt"}]
    f.write_text(json.dumps({"input": [{"role": "user"}], "output": "x y z"}) + "\n")
    with pytest.raises(DataError) as e:
        load_examples(f, task="generation")
    assert e.value.line == 1 and "chat messages" in e.value.reason
    d = tmp_path / "dialogues"
    d.mkdir()
    (d / "dialogues.test.jsonl").write_text(json.dumps({"dialogue": "#P1#: hi\n#P2#: bye", "summary1": "They greet.", "summary2": "Hello and bye."}) + "\n")
    (d / "dialogues.dev.jsonl").write_text(json.dumps({"dialogue": "#P1#: rain?\n#P2#: yes", "summary": "They talk about the rain today."}) + "\n")
    src = load_source(d)
    assert src.kind == "generation" and src.splits["test"][0].output == ["They greet.", "Hello and bye."]
    assert src.splits["validation"][0].output == "They talk about the rain today."


def test_production_refuses_free_text_logs_with_the_reason(tmp_path, tiny_generator, capsys):
    logs = tmp_path / "logs.jsonl"
    logs.write_text("".join(json.dumps({"id": str(i), "input": f"call {i}", "prediction": f"The customer called about card {i} and it was blocked.",
                                        "verdict": "pass"}) + "\n" for i in range(20)))
    assert main(["improve", "--model", tiny_generator, "--logs", str(logs), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "generation" in err and "production mode does not serve" in err and not (tmp_path / "run").exists()
