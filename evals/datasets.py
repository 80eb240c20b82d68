"""Readers for the public benchmark copies in ../shared/datasets (path configurable)."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def data_dir(path: str | None = None) -> Path:
    d = Path(path or os.environ.get("PIONEER_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "datasets")
    if not d.exists():
        raise SystemExit(f"benchmark data not found at {d}: pass --data-dir or set PIONEER_DATA_DIR")
    return d


def banking77(split: str, root: str | None = None) -> list[tuple[str, str]]:
    with (data_dir(root) / "banking77" / "banking_data" / f"{split}.csv").open(encoding="utf-8") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def trec_questions(root: str | None = None) -> list[str]:
    """TREC questions (Latin-1), used as off-domain text."""
    p = data_dir(root) / "trec" / "data" / "raw" / "TREC.test"
    lines = p.read_bytes().decode("latin-1").splitlines()
    return [l.split(" ", 1)[1].strip() for l in lines if " " in l]
