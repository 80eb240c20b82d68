"""The Hugging Face hub as a cold-start data source: search by the description's key words, then fetch a
dataset's card and small data files (JSONL, CSV, Parquet) into the run folder, to be read like local data.

The endpoint is $HF_ENDPOINT (default https://huggingface.co), read at call time. Only called when the hub
answered the scout's probe; the CLI runs offline unless HF_HUB_OFFLINE=0 is set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

DATA_SUFFIXES = (".jsonl", ".csv", ".parquet")
CARDS = ("README.md",)
MAX_BYTES = 50_000_000  # per file: larger files are left on the hub
STOP = {"classify", "classification", "label", "labels", "which", "their", "them", "they", "into", "from", "with", "that",
        "this", "what", "about", "text", "texts", "each", "sort", "detect", "messages", "message", "find", "type", "types"}


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def keywords(description: str, n: int = 4) -> list[str]:
    """The description's first `n` distinctive words (4 letters or more, common task words left out)."""
    out: list[str] = []
    for w in re.findall(r"[A-Za-z][A-Za-z0-9-]{3,}", description.lower()):
        if w not in STOP and w not in out:
            out.append(w)
    return out[:n]


def _get(path: str, timeout: float, **params):
    """GET on the hub's HTTP API. Plain httpx: huggingface_hub fixes its offline switch when first imported,
    and the CLI imports it offline."""
    import httpx

    r = httpx.get(f"{endpoint()}{path}", params=params, timeout=timeout, follow_redirects=True)
    r.raise_for_status()
    return r


def search(description: str, limit: int = 3, timeout: float = 10.0) -> list[str]:
    """Dataset ids whose names match the description's key words (the hub's own order per word)."""
    ids: list[str] = []
    for w in keywords(description):
        for d in _get("/api/datasets", timeout, search=w, limit=limit).json():
            if d["id"] not in ids:
                ids.append(d["id"])
    return ids


def fetch(repo_id: str, dest: str | Path, timeout: float = 10.0) -> Path:
    """The dataset's card and data files (at most MAX_BYTES each) under `dest`; returns `dest`."""
    dest = Path(dest)
    info = _get(f"/api/datasets/{repo_id}", timeout, blobs="true").json()
    wanted = [s["rfilename"] for s in info.get("siblings") or []
              if (s["rfilename"].endswith(DATA_SUFFIXES) or s["rfilename"] in CARDS) and (s.get("size") or 0) <= MAX_BYTES]
    for name in wanted:
        out = dest / name
        if out.exists():
            continue
        r = _get(f"/datasets/{repo_id}/resolve/{info.get('sha') or 'main'}/{quote(name)}", timeout)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(r.content)
        tmp.replace(out)
    return dest
