"""The cold-start search for generation: LoRA attempts on a causal LM, each a (data slice, hyperparameters) pair
scored on the development split by the task's verifier.

Training a causal LM on a CPU costs seconds an example, so no example is trained on twice before every one has
been trained on once (the classifier search's refit from scratch would spend the budget again):
- first iteration: two learning rates for the same LoRA (r 16, one epoch) on the same first slice of the training
  split (a fifth, 32 to 160 examples, of one fixed order); the dev split tells them apart;
- second: the better one continues, at its learning rate, on the rest of the training split (the examples it has
  not seen): every example once, at the learning rate the dev split chose;
- later: one more pass over the whole training split, continued from the best, at half its learning rate.
The search's budget, plateau and rollback rules (tools/coldstart/search.py) decide when to stop; the best attempt
on the dev split is the final model, with no refit.
"""

from __future__ import annotations

from dataclasses import asdict

FIRST_RATES = (2e-4, 6e-4)
SLICE_SHARE, SLICE_MIN, SLICE_MAX = 0.2, 32, 160


def attempt(name: str, examples: int | None = None, skip: int = 0, continue_from: str | None = None, **train) -> dict:
    from tools.models.causal import LoraTrainConfig

    cfg = {k: v for k, v in asdict(LoraTrainConfig(**{"epochs": 1.0, "max_length": 512, **train})).items() if k != "seed"}
    out = {"name": name, "data": {"per_label": None, "examples": examples, "skip": skip, "augment": 0, "focus": []}, "train": cfg}
    if continue_from:
        out["continue_from"] = continue_from
    return out


def first(configs: list[dict], n_train: int) -> list[dict]:
    """Two learning rates on the first slice; a remembered LoRA configuration (the memory's, first in `configs`) gives
    the first of them its learning rate."""
    cap = max(SLICE_MIN, min(SLICE_MAX, int(n_train * SLICE_SHARE)))
    cap = None if cap >= n_train else cap  # a split this small is trained on whole from the start
    rates = list(FIRST_RATES)
    memo = next((c for c in configs if c["name"].startswith("memory:") and "lora_r" in c.get("train", {})), None)
    if memo and memo["train"]["learning_rate"] not in rates:
        rates[0] = memo["train"]["learning_rate"]
    return [attempt(f"lora-lr{r:g}", cap, learning_rate=r) for r in rates]


def revise(best: dict, iteration: int) -> tuple[list[dict], str]:
    """The next attempt from the best so far: the rest of the data when it has seen a slice, else one more pass. Each
    iteration since the best one that failed to beat it halves the learning rate (so no attempt is made twice)."""
    cfg, d = best["config"], best["config"]["data"]
    failed = max(0, iteration - best["iteration"] - 1)
    lr = round(cfg["train"]["learning_rate"] / 2 ** failed, 8)
    train = {k: v for k, v in cfg["train"].items() if k not in ("learning_rate", "epochs")}
    slower = f" at learning rate {lr:g} ({failed} attempt(s) from it did not beat it)" if failed else ""
    if d.get("examples"):
        seen = (d.get("skip") or 0) + d["examples"]
        nxt = attempt(f"{best['strategy']}+rest" + (f"@{lr:g}" if failed else ""), None, seen, best["model_dir"], learning_rate=lr,
                      epochs=1.0, **train)
        return [nxt], (f"{best['strategy']} is the best at {best['score']:.4f} on the dev split: it continues on the training "
                       f"examples after the first {seen} (each example trained on once){slower}")
    lr = round(lr / 2, 8)
    nxt = attempt(f"{best['strategy']}+pass@{lr:g}", None, 0, best["model_dir"], learning_rate=lr, epochs=1.0, **train)
    return [nxt], f"{best['strategy']} has seen every training example: one more pass, continued from it, at learning rate {lr:g}"


def examples_of(data: dict, n_train: int) -> int | None:
    """How many examples a free-text slice trains on (None when `data` is not a slice)."""
    if "examples" not in data and "skip" not in data:
        return None
    n = max(0, n_train - (data.get("skip") or 0))
    return min(n, data["examples"]) if data.get("examples") else n


def slice_rows(rows: list, data: dict, order_seed: int) -> list:
    """The rows of a free-text slice: `skip` then `examples` of one fixed order of `rows` (the same order in every
    iteration, so a continued attempt sees exactly the examples its parent did not)."""
    import random

    rows = list(rows)
    random.Random(order_seed).shuffle(rows)
    start = data.get("skip") or 0
    return rows[start:start + data["examples"]] if data.get("examples") else rows[start:]
