"""The server's runs: each in a background thread, driven by the run service (graph/service.py) on one
checkpointer that every run of the server shares, recorded in `root/<id>/run.json` (the run folder's own record,
as the CLI writes it) so that a restarted server continues every run that was going."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

from graph import service
from graph.runs import AWAITING_APPROVAL, FAILED, RUNNING, config_for, pending_request


class RunManager:
    """Runs of either mode in the background, one LangGraph thread and one Python thread each, `workers` at a time."""

    def __init__(self, graph, root: Path, home: str | None = None, workers: int = 2):
        self.g, self.root, self.home = graph, Path(root), home
        self.root.mkdir(parents=True, exist_ok=True)
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._active: set[str] = set()

    # records
    def _path(self, run_id: str) -> Path:
        if not run_id.isalnum():
            raise KeyError(run_id)
        return self.root / run_id / "run.json"

    def record(self, run_id: str) -> dict:
        p = self._path(run_id)
        if not p.exists():
            raise KeyError(run_id)
        return json.loads(p.read_text())

    def _save(self, rec: dict) -> None:
        from tools.store.data import write_json

        with self._lock:
            write_json(self._path(rec["id"]), rec)

    def records(self) -> list[dict]:
        out = []
        for p in sorted(self.root.glob("*/run.json")):
            try:
                out.append(json.loads(p.read_text()))
            except json.JSONDecodeError:
                continue
        return sorted(out, key=lambda r: r.get("created", 0))

    # lifecycle
    def start(self, inputs: dict, settings: dict, mode: str = "production") -> dict:
        run_id = uuid.uuid4().hex[:12]
        rec = {"id": run_id, "status": RUNNING, "mode": mode, "inputs": inputs, "settings": settings, "created": time.time(),
               "run_dir": str((self.root / run_id).resolve()), "thread": run_id}
        self._save(rec)
        self._spawn(run_id, {"mode": mode, **inputs})
        return rec

    def answer(self, run_id: str, answer: dict) -> dict:
        """Record the answer to a paused run and drive it on; LookupError when it waits for none."""
        from langgraph.types import Command

        rec = self.record(run_id)
        try:
            service.check_awaiting(rec, f"run {run_id}", pending_request(self.g, config_for(self._thread(rec))) is not None)
        except service.BadInput as e:
            raise LookupError(str(e)) from None
        rec.update(status=RUNNING, approval=answer)
        self._save(rec)
        self._spawn(run_id, Command(resume=answer))
        return rec

    def resume_unfinished(self) -> list[str]:
        """After a restart: continue every run that was going when the server stopped."""
        from langgraph.types import Command

        ids = []
        for r in self.records():
            if r["status"] != RUNNING:
                continue
            answered = r.get("approval") and pending_request(self.g, config_for(self._thread(r))) is not None
            self._spawn(r["id"], Command(resume=r["approval"]) if answered else None)  # an answer not yet applied
            ids.append(r["id"])
        return ids

    @staticmethod
    def _thread(rec: dict) -> str:
        return rec.get("thread") or rec["id"]  # records written before they named their thread used the run id

    def _spawn(self, run_id: str, payload) -> None:
        with self._lock:
            if run_id in self._active:
                raise LookupError(f"run {run_id} is already going")
            self._active.add(run_id)
        threading.Thread(target=self._work, args=(run_id, payload), name=f"run-{run_id}", daemon=True).start()

    def _work(self, run_id: str, payload) -> None:
        """Drive the run with the service on the shared graph; the service records the status it reaches, a failure
        is recorded here (the run keeps its checkpoint)."""
        try:
            with self._slots:
                rec = {**self.record(run_id), "error": None}
                rec["thread"] = self._thread(rec)
                run_dir = Path(rec["run_dir"])
                events = run_dir / "events.jsonl"

                def log(chunk: dict) -> None:
                    with events.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"t": time.time(), **chunk}, default=str) + "\n")

                with service.holding(run_dir):  # BadInput: another server has this run
                    service.drive(run_dir, rec, payload, on_event=log, graph=self.g, home=self.home)
        except Exception as e:  # noqa: BLE001 - recorded; the run keeps its checkpoint
            self._save({**self.record(run_id), "status": FAILED, "error": f"{type(e).__name__}: {e}"})
        finally:
            with self._lock:
                self._active.discard(run_id)

    # reading
    def describe(self, run_id: str) -> dict:
        rec = self.record(run_id)
        st = self.g.get_state(config_for(self._thread(rec)))
        vals = st.values or {}
        return {**rec, "next": list(st.next), "plan": (vals.get("plan") or {}).get("why"),
                "iterations": len(vals.get("iterations") or []), "pending": st.interrupts[0].value if st.interrupts else None,
                "outcome": (vals.get("report") or {}).get("outcome")}

    def events(self, run_id: str, after: int = 0) -> list[dict]:
        p = Path(self.record(run_id)["run_dir"]) / "events.jsonl"
        if not p.exists():
            return []
        return [json.loads(l) for l in p.read_text(encoding="utf-8").splitlines()[after:] if l.strip()]

    def pending(self) -> list[dict]:
        out = []
        for r in self.records():
            if r["status"] == AWAITING_APPROVAL:
                req = pending_request(self.g, config_for(self._thread(r)))
                if req:
                    out.append({"id": r["id"], "run_dir": r["run_dir"], "request": req})
        return out
