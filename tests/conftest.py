"""Shared fixtures: a tiny BERT (MiniLM's tokenizer, random weights) so real training runs in seconds,
and a small generated intent task. Tests never read ../shared."""

from __future__ import annotations

import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """Each test gets its own pioneer home (registry, memory)."""
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A 2-layer, 64-wide BERT with MiniLM's tokenizer: trains a few hundred steps a second."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tools.embed import minilm_path

    d = tmp_path_factory.mktemp("tiny-base")
    tok = AutoTokenizer.from_pretrained(minilm_path())
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return str(d)


@pytest.fixture(scope="session")
def task_rows():
    """(parent, traffic, test) rows of the demo's generated intent task."""
    from tools.demo import generate

    rng = random.Random(0)
    return generate(6, (0,), rng), generate(30, (0, 1, 2), rng), generate(15, (0, 1, 2), rng)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, tiny_base, task_rows):
    """A deployed tiny model trained on the parent data, with judged logs (10% wrong corrections, 6% poison)."""
    from tools.classifier import TrainConfig, predict, train_classifier
    from tools.data import write_jsonl
    from tools.demo import INTENTS
    from tools.simulate import judge, make_traffic

    d = tmp_path_factory.mktemp("deployment")
    parent, traffic_rows, test = task_rows
    labels = sorted(INTENTS)
    train_classifier(tiny_base, [t for t, _ in parent], [l for _, l in parent], labels, d / "deployed",
                     TrainConfig(epochs=8, learning_rate=3e-3, batch_size=16, freeze_embeddings=False))
    traffic = make_traffic([t for t, _ in traffic_rows], [l for _, l in traffic_rows], labels, 0.06, seed=0)
    logs, key = judge(traffic, predict(d / "deployed", traffic.inputs), labels, 0.1, seed=0)
    write_jsonl(d / "logs.jsonl", logs)
    write_jsonl(d / "key.jsonl", key)
    write_jsonl(d / "parent.jsonl", [{"input": t, "output": l} for t, l in parent])
    write_jsonl(d / "test.jsonl", [{"input": t, "output": l} for t, l in test])
    return d
