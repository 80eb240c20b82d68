"""Long-term memory: past failure patterns and the strategies tried on them, in chromadb.

Persistent under `<home>/memory`, embedded with the MiniLM (chromadb's own default embedding function
downloads a model and fails offline, so it is never used). A later run looks up patterns like its own
and starts from the strategy that worked best on them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tools.store.registry import home

COLLECTION = "failure_patterns"
TASKS = "cold_start_tasks"  # cold-start mode: which strategy reached what score on which kind of task


class _MiniLM:
    """chromadb embedding function backed by tools.models.embed."""

    def __init__(self) -> None:
        pass

    def __call__(self, input):  # noqa: A002 - chromadb's signature
        from tools.models.embed import embed

        return [list(map(float, v)) for v in embed(list(input))]

    def embed_documents(self, input):  # noqa: A002
        return self(input)

    def embed_query(self, input):  # noqa: A002
        return self(input)

    @staticmethod
    def name() -> str:
        return "pioneer-minilm"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> "_MiniLM":
        return _MiniLM()

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


class Memory:
    def __init__(self, path: str | Path | None = None):
        import chromadb
        from chromadb.config import Settings

        self.path = Path(path or home() / "memory")
        self.path.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
        self.col = self.client.get_or_create_collection(COLLECTION, embedding_function=_MiniLM(), metadata={"hnsw:space": "cosine"})

    def record(self, task: str, patterns: list[dict], strategy: dict, outcome: dict, run_id: str) -> int:
        """Remember that `strategy` was tried on `patterns` with `outcome` (score, flips, promoted)."""
        docs, metas, ids = [], [], []
        for p in patterns:
            docs.append(pattern_text(p))
            metas.append({"task": task, "run_id": run_id, "pattern": p.get("name", ""), "strategy": strategy.get("name", ""),
                          "strategy_json": json.dumps(strategy), "score": float(outcome.get("score") or 0.0),
                          "flips": int(outcome.get("flips") or 0), "promoted": bool(outcome.get("promoted"))})
            ids.append(str(uuid.uuid4()))
        if docs:
            self.col.add(documents=docs, metadatas=metas, ids=ids)
        return len(docs)

    def similar(self, patterns: list[dict], task: str, k: int = 5, max_distance: float = 0.35) -> list[dict]:
        """Past records of patterns close to these ones (cosine distance under `max_distance`)."""
        if not patterns or self.col.count() == 0:
            return []
        res = self.col.query(query_texts=[pattern_text(p) for p in patterns], n_results=min(k, self.col.count()), where={"task": task})
        hits = []
        for qi, (metas, dists) in enumerate(zip(res["metadatas"], res["distances"])):
            for m, d in zip(metas, dists):
                if d <= max_distance:
                    hits.append({**m, "distance": round(float(d), 4), "query_pattern": patterns[qi].get("name", "")})
        return hits

    def best_strategy(self, patterns: list[dict], task: str) -> tuple[dict | None, list[dict]]:
        """The strategy that passed the gate on similar patterns with the best record (score minus flips), and every
        similar record. None when none of them passed: a refused attempt is what was tried, not what fixed them
        (on AdaptFT-Bench's systematic judge, stages 2 and 3 started from stage 1's best refused attempt, which
        flipped 6 passes again)."""
        hits = self.similar(patterns, task)
        passed = [h for h in hits if h["promoted"]]
        if not passed:
            return None, hits
        best = max(passed, key=lambda h: (h["score"] - 0.01 * h["flips"], -h["distance"]))
        return json.loads(best["strategy_json"]), hits


    # ---------------------------------------------------------------- cold start

    def _tasks(self):
        return self.client.get_or_create_collection(TASKS, embedding_function=_MiniLM(), metadata={"hnsw:space": "cosine"})

    def record_task(self, task_text: str, kind: str, strategy: dict, outcome: dict, run_id: str) -> None:
        """Remember the best strategy of a cold-start run: its dev score, the iteration it came from and the minutes of
        training the search spent until it had it."""
        self._tasks().add(documents=[task_text], ids=[str(uuid.uuid4())], metadatas=[{
            "kind": kind, "run_id": run_id, "strategy": strategy.get("name", ""), "strategy_json": json.dumps(strategy),
            "score": float(outcome.get("score") or 0.0), "iteration": int(outcome.get("iteration") or 0),
            **({"minutes": float(outcome["minutes"])} if outcome.get("minutes") is not None else {})}])

    def best_for_task(self, task_text: str, kind: str, k: int = 5, max_distance: float = 0.7) -> tuple[dict | None, list[dict]]:
        """The best-scoring remembered strategy among past tasks of the same kind close to this one. MiniLM puts
        two intent-classification descriptions (Banking77's, SNIPS's, with their label names) at a cosine
        distance of about 0.65, a news-topic or sentiment task at 0.83 to 0.89 from Banking77's; a spam filter, at
        0.65, would match it too: the match's distance is reported."""
        col = self._tasks()
        if col.count() == 0:
            return None, []
        res = col.query(query_texts=[task_text], n_results=min(k, col.count()), where={"kind": kind})
        hits = [{**m, "distance": round(float(d), 4), "task": doc} for m, d, doc in
                zip(res["metadatas"][0], res["distances"][0], res["documents"][0]) if d <= max_distance]
        if not hits:
            return None, []
        best = max(hits, key=lambda h: (h["score"], -h["distance"]))
        return json.loads(best["strategy_json"]), hits


def pattern_text(p: dict) -> str:
    conf = "; ".join(f"{a} confused for {b}" for a, b, *_ in p.get("confusions", [])[:2])
    return f"{p.get('name', '')}. {conf}. " + " | ".join(p.get("examples", [])[:3])
