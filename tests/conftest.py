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
def tiny_generator(tmp_path_factory):
    """A 2-layer, 64-wide Llama with a byte-level BPE tokenizer trained here and a ChatML chat template (the
    embedded SmolLM2's format): a causal LM made without a download that trains in a second or two."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("tiny-generator")
    corpus = ["user assistant system the cat sat on the mat", "what is the capital of france paris", "yes no maybe ok fine"] * 20
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<unk>")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=4, max_position_embeddings=256, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=None, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d)
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
