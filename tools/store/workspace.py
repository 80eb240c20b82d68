"""The run folder's work files: what one step computes, later steps (and a resumed run) read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from tools.store.artifacts import WorkFile
from tools.store.data import Example, LogRecord, read_jsonl, write_json, write_jsonl

T = TypeVar("T")
Name = WorkFile | str  # a declared work file, or a file name of the caller's


class Workspace:
    """The run folder's `work/`: the work files of tools/store/artifacts.py, read and written by their form."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.work = self.dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)

    def path(self, name: Name) -> Path:
        return self.work / str(name)

    def has(self, name: Name) -> bool:
        if isinstance(name, WorkFile) and name.form in ("array", "by_text"):
            return self.path(name.name + ".npy").exists()
        return self.path(name).exists()

    def read(self, f: WorkFile[T]) -> T:
        """A json, rows or array work file as its declaration types it."""
        if f.form == "json":
            return self.load_json(f.name)
        if f.form == "rows":
            return read_jsonl(self.path(f))  # type: ignore[return-value]
        if f.form == "array":
            return np.load(self.path(f"{f}.npy"))  # type: ignore[return-value]
        raise TypeError(f"work file {f.name} ({f.form}) is read with by_text / blocks_by_text, or is a folder")

    def write(self, f: WorkFile[T], value: T) -> None:
        """Write a json or rows work file (atomically: a crash leaves the old file or the new one)."""
        if f.form == "json":
            self.save_json(f.name, value)
        elif f.form == "rows":
            write_jsonl(self.path(f), value)  # type: ignore[arg-type]
        else:
            raise TypeError(f"work file {f.name} ({f.form}) is written by array / by_text, or is a folder")

    # JSON by a plain name: the key files beside the by-text arrays
    def save_json(self, name: Name, obj: Any) -> None:
        write_json(self.path(name), obj)

    def load_json(self, name: Name) -> Any:
        return json.loads(self.path(name).read_text(encoding="utf-8"))

    def array(self, name: Name, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A cached array: computed once, then read from `work/<name>.npy` (also after a resume)."""
        p = self.path(f"{name}.npy")
        if p.exists():
            return np.load(p)
        arr = compute()
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        tmp.replace(p)
        return arr

    def by_text(self, name: Name, texts: list[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Rows per text, each text computed once a run (`compute` gets the texts not yet seen, returns a row
        each) and kept in `work/<name>.npy` with the texts in `work/<name>.json` (written after the array: a
        crash in between leaves a shorter list, and the rows past it are computed again). `texts` must not be
        empty."""
        return np.stack([a[0] for a in self.blocks_by_text(name, texts, lambda new: [r[None] for r in compute(new)])])

    def blocks_by_text(self, name: Name, texts: list[str], compute: Callable[[list[str]], list[np.ndarray]]) -> list[np.ndarray]:
        """As `by_text`, with a block of rows per text, of any length (a tagger's probabilities per word):
        stored as the blocks stacked, with each text and its row count in `work/<name>.json`."""
        arr_p, keys_p = self.path(f"{name}.npy"), f"{name}.json"
        keys = [k if isinstance(k, list) else [k, 1] for k in self.load_json(keys_p)] if self.has(keys_p) and arr_p.exists() else []
        arr = np.load(arr_p) if keys else None
        ends = np.cumsum([n for _, n in keys]).tolist()
        pos = {t: (e - n, e) for (t, n), e in zip(keys, ends)}
        new = sorted({t for t in texts if t not in pos})
        if new:
            blocks = compute(new)
            rows = np.concatenate(blocks) if blocks else None
            arr = rows if arr is None else np.concatenate([arr[: ends[-1] if ends else 0], rows])
            keys = keys + [[t, len(b)] for t, b in zip(new, blocks)]
            tmp = arr_p.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            tmp.replace(arr_p)
            self.save_json(keys_p, keys)
            ends = np.cumsum([n for _, n in keys]).tolist()
            pos = {t: (e - n, e) for (t, n), e in zip(keys, ends)}
        return [arr[slice(*pos[t])] for t in texts]


@dataclass
class RunData:
    """A production run after its diagnosis: the work files, the validated logs and parent data, each log line's
    triage verdict and the evaluation splits."""

    ws: Workspace
    records: list[LogRecord]
    parent: list[Example]
    triage: dict[str, dict]  # log id -> triage verdict
    splits: dict[str, list[str]]  # regression and held-out failure ids

    @property
    def by_id(self) -> dict[str, LogRecord]:
        return {r.id: r for r in self.records}

    def category(self, log_id: str) -> str:
        return self.triage[log_id]["category"]
