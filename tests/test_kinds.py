"""Task kinds: every registered kind passes the same contract checks, and a kind registered from a test plugs into
a real run without a change to agents/ (the agents call the registry, never a kind by name)."""

from __future__ import annotations

import json

import pytest

from tools import kinds
from tools.kinds.base import TaskKind

SAMPLES = {  # (texts, truth, a wrong answer for each) per kind
    "classification": (["lost my card", "card stolen", "refund please"], ["card_lost", "card_stolen", "refund"],
                       ["card_stolen", "card_lost", "refund_late"]),
    "ner": (["Ana flew to Lisbon", "Bob met Ana", "rain today"],
            [[{"start": 0, "end": 3, "label": "PER"}, {"start": 12, "end": 18, "label": "LOC"}],
             [{"start": 0, "end": 3, "label": "PER"}, {"start": 8, "end": 11, "label": "PER"}], []],
            [[{"start": 0, "end": 3, "label": "LOC"}], [], [{"start": 0, "end": 4, "label": "PER"}]]),
    "generation": (["sum up: the call was about a lost card", "sum up: a refund came late", "sum up: rain"],
                   ["The customer lost a card.", ["A refund was late.", "The refund came late."], "It rained."],
                   ["The customer lost a card and asked for a new one at once.", "I'm sorry, I cannot help.", "Sunny."]),
}


@pytest.mark.parametrize("name", kinds.names())
def test_every_kind_keeps_the_contract(name):
    kind = kinds.get(name)
    assert isinstance(kind, TaskKind) and kind.name == name and kind is kinds.get(name)
    texts, truth, wrong = SAMPLES[name]
    said = [t[0] if name == "generation" and isinstance(t, list) else t for t in truth]  # one answer of several right ones
    right, bad = kind.metrics(texts, truth, said), kind.metrics(texts, truth, wrong)
    assert kind.score(right) == 1.0 and kind.score(bad) < 1.0
    assert all(isinstance(l, str) for t in truth for l in kind.labels_of(t))
    confused = kind.confusions(texts, truth, wrong)
    assert confused and all(len(c) == 3 and c[2] >= 1 for c in confused)
    assert kind.confusions(texts, truth, said) == []
    assert kind.judged(truth, said) == [True] * 3 and kind.judged(truth, wrong).count(False) >= 2
    assert set(kind.modes) <= {"production", "cold_start"} and "cold_start" in kind.modes
    # what cold start reads: the task's labels keep every answer; its results table names keys the metrics hold
    labels = sorted({l for t in truth for l in kind.labels_of(t)})
    assert [kind.map_answer(t, labels, "as_in_data") for t in truth] == truth
    assert all(k in right for _, k in kind.report_columns) and isinstance(kind.min_labels, int)
    assert kinds.naming(name)["metric_key"] == kind.metric_key and name in kinds.known()
    from tools.coldstart import search as sr

    firsts = kind.first_search(sr.first(400, 3, sr.SearchSettings())[0], 400)
    assert len(firsts) >= 2 and all({"name", "train", "data"} <= set(c) for c in firsts)
    assert all(kind.train_config(c["train"], 0) is not None for c in firsts)  # the kind's own training configuration
    if "production" not in kind.modes:  # refused before the production methods are reached
        return
    configs = kind.first_strategies({"dominant_error": "recall", "patterns": []}, 2, 1e-4)
    assert len(configs) >= 2 and all({"name", "mix", "train"} <= set(c) for c in configs)
    assert len({c["name"] for c in configs}) == len(configs)
    shown = kind.log_figures(texts, truth, wrong, texts, truth, truth)
    assert shown["regression_accuracy"] == 1.0 and isinstance(shown["per_label_recall"], dict)
    assert kind.churn(None, "unused", []) == [] and kind.answers_with_churn("unused", []) == ([], None)


def test_a_registered_kind_is_named_by_descriptions_and_flags(monkeypatch):
    """Cold start's kind names, description words and label minimum come from the registry: a kind registered
    here is chosen by its words and by --kind, and keeps its own label minimum."""
    from tools.coldstart.taskspec import TaskError, infer_task, kind_from_description
    from tools.kinds import base
    from tools.kinds.classification import Classification

    class Haiku(Classification):
        name, metric_key, words, min_labels = "haiku", "season_accuracy", r"\bhaiku\b", 3

    monkeypatch.setitem(base._REGISTRY, "haiku", Haiku)
    monkeypatch.setattr(base, "_LOADED", {})
    assert "haiku" in kinds.known() and kind_from_description("sort each haiku by its season") == "haiku"
    spec = infer_task("sort each haiku by its season", [], [], ["spring", "summer", "autumn"])
    assert (spec.kind, spec.metric, spec.decided_by["kind"]) == ("haiku", "season_accuracy", "description")
    with pytest.raises(TaskError, match="haiku task needs 3 labels"):
        infer_task("sort poems", [], [], ["spring", "autumn"], kind="haiku")
    # a kind planned but not registered is named, then refused by the run (not mistaken for another kind)
    monkeypatch.setitem(base.PLANNED, "sonnet", {"words": r"\bsonnets?\b", "metric_key": "meter", "min_labels": 0})
    assert kind_from_description("compose sonnets about the sea") == "sonnet"
    assert "sonnet" in kinds.known() and "sonnet" not in kinds.names()
    assert kind_from_description("summarize each dialogue in two sentences") == "generation" and "generation" in kinds.names()


def test_an_unknown_kind_is_named_in_the_error():
    with pytest.raises(KeyError, match="no task kind 'poetry'.*classification"):
        kinds.get("poetry")


def test_a_kind_registered_from_a_test_drives_a_real_run(deployment, tiny_base, tmp_path, monkeypatch):
    """A kind of our own, registered for classification logs: the planner trains its first strategies and the
    reporter shows its figures, with nothing in agents/ changed."""
    from graph.cli import main
    from tests.test_graph import improve_args
    from tools.kinds.classification import Classification
    from tools.production.strategies import warm

    calls = []

    class Cautious(Classification):
        def first_strategies(self, diagnosis, epochs, learning_rate):
            calls.append("first_strategies")
            return [warm("cautious-a", epochs, learning_rate), warm("cautious-b", epochs, learning_rate / 2)]

        def log_figures(self, *args):
            calls.append("log_figures")
            return {**super().log_figures(*args), "checked_by": "cautious"}

    monkeypatch.setattr(kinds.base, "_REGISTRY", dict(kinds.base._REGISTRY))
    monkeypatch.setattr(kinds.base, "_LOADED", {})
    kinds.register("classification", Cautious)
    run = tmp_path / "run"
    code = main(improve_args(deployment, tiny_base, run, "--home", str(tmp_path / "home"), "--max-flips", "1000", "--min-fixed", "0",
                             "--label-tolerance", "1"))
    assert code == 0
    rep = json.loads((run / "report.json").read_text())
    assert {e["strategy"] for e in rep["iterations"] if e["stage"] == "select"} >= {"cautious-a", "cautious-b"}
    assert "first_strategies" in calls and "log_figures" in calls
    assert "checked_by" in json.dumps(rep)
