"""The run folder's work files: what one step computes, later steps (and a resumed run) read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tools.data import read_jsonl, write_json, write_jsonl


class Workspace:
    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.work = self.dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.work / name

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def save_json(self, name: str, obj: Any) -> None:
        write_json(self.path(name), obj)

    def load_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def save_rows(self, name: str, rows: list[dict]) -> None:
        write_jsonl(self.path(name), rows)

    def load_rows(self, name: str) -> list[dict]:
        return read_jsonl(self.path(name))

    def array(self, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A cached array: computed once, then read from `work/<name>.npy` (also after a resume)."""
        p = self.path(name + ".npy")
        if p.exists():
            return np.load(p)
        arr = compute()
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(p)
        return arr

    def by_text(self, name: str, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Rows per text, each text computed once a run (`compute` gets the texts not yet seen) and kept in
        `work/<name>.npy` with the texts in `work/<name>.json` (written after the array: a crash in between
        leaves a shorter list, and the rows past it are computed again). `texts` must not be empty."""
        arr_p, keys_p = self.path(name + ".npy"), name + ".json"
        keys = self.load_json(keys_p) if self.has(keys_p) and arr_p.exists() else []
        arr = np.load(arr_p)[: len(keys)] if keys else None
        pos = {t: i for i, t in enumerate(keys)}
        new = sorted({t for t in texts if t not in pos})
        if new:
            rows = compute(new)
            arr = rows if arr is None else np.concatenate([arr, rows])
            keys = keys + new
            tmp = arr_p.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            tmp.replace(arr_p)
            self.save_json(keys_p, keys)
            pos = {t: i for i, t in enumerate(keys)}
        return arr[[pos[t] for t in texts]]
