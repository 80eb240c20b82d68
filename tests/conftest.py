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

    from tools.models.embed import minilm_path

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
    from tools.fixtures.demo import generate

    rng = random.Random(0)
    return generate(6, (0,), rng), generate(30, (0, 1, 2), rng), generate(15, (0, 1, 2), rng)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, tiny_base, task_rows):
    """A deployed tiny model trained on the parent data, with judged logs (10% wrong corrections, 6% poison)."""
    from tools.fixtures.demo import INTENTS
    from tools.fixtures.simulate import simulate_deployment
    from tools.models.classifier import TrainConfig

    d = tmp_path_factory.mktemp("deployment")
    parent, traffic_rows, test = task_rows
    simulate_deployment(d, sorted(INTENTS), parent, traffic_rows, test, seed=0, wrong_rate=0.1, poison_rate=0.06, base=tiny_base,
                        deployed_config=TrainConfig(epochs=8, learning_rate=3e-3, batch_size=16, freeze_embeddings=False))
    return d
