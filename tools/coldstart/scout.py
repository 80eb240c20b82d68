"""Finding training data for a described task: the user's files, a local catalog, the Hugging Face hub.

Every candidate source is ranked by relevance to the description: the cosine similarity (MiniLM) between
the description and the source's card title plus its label names. The user's own files are always used
when their labels map onto the task's; catalog and hub datasets only when relevant enough. The hub is
probed once, with a short timeout; offline, that is said once and the run goes on with what is local.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from tools import kinds
from tools.coldstart.sources import Source, load_source
from tools.coldstart.taskspec import TaskSpec, humanize
from tools.store.data import DataError

MIN_RELEVANCE = 0.3  # a catalog dataset below this is not about the task (MiniLM cosine; see the README)


@dataclass
class Candidate:
    source: Source
    origin: str  # user | catalog | hub | teacher
    relevance: float = 0.0
    used: bool = False
    why: str = ""
    mapped: int = 0  # examples whose label maps onto the task's labels

    def summary(self) -> dict:
        return {**self.source.summary(), "origin": self.origin, "relevance": round(self.relevance, 3), "used": self.used,
                "why": self.why, "mapped_examples": self.mapped}


@dataclass
class Pool:
    train: list[tuple[str, object, str]] = field(default_factory=list)  # (input, output, source name)
    test: list[tuple[str, object, str]] = field(default_factory=list)  # the sources' own test splits
    dropped: dict[str, int] = field(default_factory=dict)


def describe(src: Source) -> str:
    """What a source is about, for ranking: its card's title line and its label names."""
    title = next((l.lstrip("# ").strip() for l in src.card.splitlines() if l.strip()), src.name)
    labels = ", ".join(humanize(l) for l in src.labels[:40])
    return f"{title}. {src.name}. labels: {labels}"


def rank(description: str, candidates: list[Candidate]) -> list[Candidate]:
    from tools.models.embed import embed

    if not candidates:
        return []
    q = embed([description], max_length=128)
    docs = embed([describe(c.source) for c in candidates], max_length=128)
    for c, s in zip(candidates, (docs @ q.T)[:, 0]):
        c.relevance = float(s)
    return sorted(candidates, key=lambda c: -c.relevance)


def catalog(folder: str | Path | None) -> tuple[list[Candidate], list[str]]:
    """Every dataset folder of a catalog (one sub-folder each, with a card), and notes on those unreadable."""
    if not folder:
        return [], []
    root = Path(folder)
    if not root.is_dir():
        raise DataError(root, 0, "catalog folder not found")
    out, notes = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append(Candidate(load_source(d), "catalog"))
        except DataError as e:
            notes.append(f"catalog {d.name}: skipped ({e.reason})")
    return out, notes


def hub_status(timeout: float = 2.0) -> tuple[bool, str]:
    """Whether the Hugging Face hub ($HF_ENDPOINT) can be reached, and why not."""
    from urllib.parse import urlparse

    from tools.coldstart.hub import endpoint

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False, "the Hugging Face hub is off (HF_HUB_OFFLINE is set; HF_HUB_OFFLINE=0 lets the scout search it)"
    url = urlparse(endpoint())
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout).close()
        return True, f"the Hugging Face hub ({endpoint()}) is reachable"
    except OSError as e:
        return False, f"the Hugging Face hub is unreachable ({type(e).__name__}); using local data only"


def hub_candidates(description: str, dest: Path) -> tuple[list[Candidate], list[str]]:
    """Datasets the hub finds for the description's key words, fetched under `dest`; notes on what failed."""
    from tools.coldstart import hub

    out, notes = [], []
    try:
        ids = hub.search(description)
    except Exception as e:  # noqa: BLE001 - a failing hub leaves the local sources
        return [], [f"hub search failed ({type(e).__name__}: {e})"]
    for repo in ids:
        try:
            out.append(Candidate(load_source(hub.fetch(repo, dest / repo.replace("/", "__"))), "hub"))
            out[-1].source.name = repo
        except Exception as e:  # noqa: BLE001 - one unreadable dataset does not stop the others
            notes.append(f"hub {repo}: skipped ({type(e).__name__}: {str(e)[:120]})")
    return out, notes


def choose(spec: TaskSpec, ranked: list[Candidate], min_relevance: float = MIN_RELEVANCE) -> list[Candidate]:
    """Mark which sources feed the task: the user's when their labels map, catalog ones when also relevant."""
    for c in ranked:
        if c.source.kind != spec.kind:
            c.why = f"a {c.source.kind} dataset, the task is {spec.kind}"
            continue
        if spec.kind in kinds.names():
            kind = kinds.get(spec.kind)
            c.mapped = sum(1 for e in c.source.examples if kind.map_answer(e.output, spec.labels, spec.label_level) is not None)
            if not c.mapped:
                c.why = f"none of its {len(c.source.labels)} {kind.noun} maps onto the task's"
                continue
        else:
            c.mapped = len(c.source.examples)
        if c.origin in ("catalog", "hub") and c.relevance < min_relevance:
            c.why = f"relevance {c.relevance:.2f} below {min_relevance}"
            continue
        c.used = True
        c.why = "your data" if c.origin == "user" else f"relevant ({c.relevance:.2f})"
    return [c for c in ranked if c.used]


def build_pool(spec: TaskSpec, used: list[Candidate]) -> Pool:
    """Examples of the used sources on the task's labels, without duplicates. Test splits are kept apart
    (they become the evaluation set); an input seen with two different labels is dropped."""
    pool = Pool()
    seen: dict[str, tuple[object, str]] = {}
    conflicts: set[str] = set()
    unmapped = 0
    kind = kinds.get(spec.kind) if spec.kind in kinds.names() else None
    for c in used:  # test splits first: an input in a test split is never trained on
        for split, rows in sorted(c.source.splits.items(), key=lambda kv: kv[0] != "test"):
            for e in rows:
                y = kind.map_answer(e.output, spec.labels, spec.label_level) if kind else e.output
                if y is None:
                    unmapped += 1
                    continue
                key = " ".join(e.input.lower().split())
                if key in seen:
                    if seen[key][0] != y:
                        conflicts.add(key)
                    continue
                seen[key] = (y, split)
                (pool.test if split == "test" else pool.train).append((e.input, y, c.source.name))
    if conflicts:
        pool.train = [r for r in pool.train if " ".join(r[0].lower().split()) not in conflicts]
        pool.test = [r for r in pool.test if " ".join(r[0].lower().split()) not in conflicts]
    pool.dropped = {"label_not_in_task": unmapped, "duplicates": sum(len(c.source.examples) for c in used) - unmapped - len(seen),
                    "conflicting_labels": len(conflicts)}
    return pool
