"""The registry never overwrites and rolls back; the memory is a real chromadb in a temp folder."""

import json

import pytest

from tools.store.memory import Memory
from tools.store.registry import Registry, RegistryError


def model_dir(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"id2label": {"0": "a"}, "tag": name}))
    return d


def test_promote_versions_current_and_rollback(tmp_path):
    reg = Registry("intent", tmp_path / "registry")
    v1 = reg.promote(model_dir(tmp_path, "m1"), {"strategy": "s1"}, [{"input": "x", "label": "a", "prediction": "a"}])
    v2 = reg.promote(model_dir(tmp_path, "m2"), {"strategy": "s2"}, [])
    assert (v1, v2) == ("v0001", "v0002") and reg.current() == "v0002"
    assert json.loads((reg.path(v1) / "config.json").read_text())["tag"] == "m1"  # not overwritten
    assert reg.meta(v2)["parent_version"] == "v0001" and reg.eval_set(v1)[0]["prediction"] == "a"
    assert reg.rollback() == "v0001" and reg.current() == "v0001"
    with pytest.raises(RegistryError, match="first version"):
        reg.rollback()
    assert reg.rollback("v0002") == "v0002"
    with pytest.raises(RegistryError, match="no version v0009"):
        reg.rollback("v0009")
    events = [json.loads(l)["event"] for l in (reg.root / "history.jsonl").read_text().splitlines()]
    assert events == ["promote", "promote", "rollback", "rollback"]


def test_first_promotion_keeps_the_deployed_model_to_roll_back_to(tmp_path):
    reg = Registry("intent", tmp_path / "registry")
    assert reg.register_baseline(model_dir(tmp_path, "deployed"), {"strategy": "deployed"}) == "v0000"
    assert reg.register_baseline(model_dir(tmp_path, "other"), {}) is None  # only before any version
    assert reg.promote(model_dir(tmp_path, "m1"), {}, []) == "v0001" and reg.meta("v0001")["parent_version"] == "v0000"
    assert reg.rollback() == "v0000" and json.loads((reg.path("v0000") / "config.json").read_text())["tag"] == "deployed"


def test_leftover_partial_copy_is_not_a_version(tmp_path):
    reg = Registry("intent", tmp_path / "registry")
    (reg.root / "versions" / "v0001.123.tmp").mkdir(parents=True)  # a crash in the middle of a copy
    assert reg.versions() == [] and reg.current() is None
    assert reg.promote(model_dir(tmp_path, "m1"), {}, []) == "v0001"


def test_memory_finds_similar_patterns_and_best_strategy(tmp_path):
    mem = Memory(tmp_path / "memory")
    cards = {"name": "card stolen: card_lost -> card_stolen", "confusions": [["card_lost", "card_stolen", 9]],
             "examples": ["my card was stolen on the train", "someone took my card"]}
    rates = {"name": "exchange rate: exchange_rate -> wrong_rate", "confusions": [["exchange_rate", "wrong_rate", 5]],
             "examples": ["the rate on my euro payment was wrong"]}
    mem.record("classification", [cards], {"name": "contrastive", "mix": {"hard_negatives": 5}}, {"score": 0.9, "flips": 1, "promoted": True}, "run1")
    mem.record("classification", [cards], {"name": "plain"}, {"score": 0.6, "flips": 4, "promoted": False}, "run1")
    mem.record("classification", [rates], {"name": "other"}, {"score": 0.99, "flips": 0, "promoted": True}, "run2")
    again = Memory(tmp_path / "memory")  # reopened from disk
    query = {"name": "stolen card", "confusions": [["card_lost", "card_stolen", 3]], "examples": ["a thief stole my card"]}
    best, hits = again.best_strategy([query], "classification")
    assert best["name"] == "contrastive" and best["mix"]["hard_negatives"] == 5
    assert all(h["pattern"].startswith("card stolen") for h in hits)
    assert again.similar([query], "ner") == []
    refused = Memory(tmp_path / "refused")  # only tried, never passed: nothing to suggest, the record still found
    refused.record("classification", [cards], {"name": "plain"}, {"score": 0.6, "flips": 4, "promoted": False}, "run1")
    best, hits = refused.best_strategy([query], "classification")
    assert best is None and [h["strategy"] for h in hits] == ["plain"]
