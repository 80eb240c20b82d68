"""Running the graph durably, for the CLI and the server: a checkpointer (SQLite by default, Postgres when
a URL is given), and a driver that streams a run or resumes it to its end or its next interrupt."""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

FINISHED, AWAITING_APPROVAL, RUNNING, FAILED = "finished", "awaiting_approval", "running", "failed"


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgres://", "postgresql://"))


@contextmanager
def checkpointer(url: str | Path) -> Iterator[Any]:
    """A checkpointer for `url`: a postgres:// URL (needs the `postgres` extra) or a SQLite file path.
    Both are safe to share between threads."""
    if is_postgres(str(url)):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as e:
            raise RuntimeError(f"a Postgres checkpoint database needs: pip install 'pioneer-agent[postgres]' ({e})") from None
        kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
        with ConnectionPool(str(url), kwargs=kwargs, min_size=1, max_size=8, open=True) as pool:
            saver = PostgresSaver(pool)
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = str(url).removeprefix("sqlite:///")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with SqliteSaver.from_conn_string(path) as saver:  # one connection, check_same_thread=False, locked
        yield saver


def compiled(saver):
    from graph import builder

    return builder.compile(checkpointer=saver)


def config_for(thread_id: str) -> dict:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}


def run_status(g, config: dict) -> str:
    """Where a thread stands: finished, awaiting_approval, or running (started or not yet, not at an end)."""
    st = g.get_state(config)
    if st.interrupts:
        return AWAITING_APPROVAL
    if not st.next and st.values.get("report"):
        return FINISHED
    return RUNNING


def pending_request(g, config: dict) -> dict | None:
    """The approval request a paused thread shows, or None."""
    st = g.get_state(config)
    return st.interrupts[0].value if st.interrupts else None


def drive(g, payload, config: dict, ctx, on_event: Callable[[dict], None] | None = None, start: dict | None = None) -> str:
    """Run `payload` (new inputs; None to continue from the checkpoint; a Command to answer an interrupt)
    until the graph ends or pauses; returns run_status. Finished steps are never redone on a resume.
    `start`: the inputs to begin with when a thread to continue has no checkpoint yet (killed that early)."""
    if payload is None:
        st = g.get_state(config)
        if not st.values and start is not None:
            payload = start
        elif run_status(g, config) == FINISHED:
            return FINISHED
        # else continue from the last checkpoint, even when it shows no next step: a process killed right
        # after a step leaves that step's writes pending on the checkpoint before it (next is then empty)
    for chunk in g.stream(payload, config, context=ctx, stream_mode="custom", durability="sync"):
        if on_event:
            on_event(chunk)
    status = run_status(g, config)
    if status == RUNNING:
        raise RuntimeError(f"the run stopped before its end at {list(g.get_state(config).next) or 'no next step'} "
                           "without an error; its checkpoint is kept")
    return status


OWNED_BY_SERVER = ("run_dir", "home")


def check_settings(settings) -> dict:
    """Run settings from a request: Context fields (not run_dir or home, which the server owns), each of its
    type and within its limits; SettingError (a ValueError) naming the setting otherwise."""
    from graph.context import FIELDS
    from graph.context import check_settings as check

    return check(settings, allowed=set(FIELDS) - set(OWNED_BY_SERVER))


class RunManager:
    """Runs of either mode in the background, one LangGraph thread and one Python thread each, recorded under
    `root/<id>/run.json` so that a restarted server continues every run that was going."""

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
               "run_dir": str((self.root / run_id).resolve())}
        self._save(rec)
        self._spawn(run_id, {"mode": mode, **inputs})
        return rec

    def answer(self, run_id: str, answer: dict) -> dict:
        from langgraph.types import Command

        rec = self.record(run_id)
        if rec["status"] != AWAITING_APPROVAL or pending_request(self.g, config_for(run_id)) is None:
            raise LookupError(f"run {run_id} is not waiting for approval (it is {rec['status']})")
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
            answered = r.get("approval") and pending_request(self.g, config_for(r["id"])) is not None
            self._spawn(r["id"], Command(resume=r["approval"]) if answered else None)  # an answer not yet applied
            ids.append(r["id"])
        return ids

    def _spawn(self, run_id: str, payload) -> None:
        with self._lock:
            if run_id in self._active:
                raise LookupError(f"run {run_id} is already going")
            self._active.add(run_id)
        threading.Thread(target=self._work, args=(run_id, payload), name=f"run-{run_id}", daemon=True).start()

    def _work(self, run_id: str, payload) -> None:
        from graph.context import Context
        from tools.store.locks import hold_run_folder

        try:
            with self._slots:
                rec = self.record(run_id)
                ctx = Context(run_dir=rec["run_dir"], home=self.home, **rec["settings"])
                config = config_for(run_id)
                events = Path(rec["run_dir"]) / "events.jsonl"

                def log(chunk: dict) -> None:
                    with events.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"t": time.time(), **chunk}, default=str) + "\n")

                with hold_run_folder(rec["run_dir"]):  # Busy: another server has this run
                    status = drive(self.g, payload, config, ctx, log, start={"mode": rec.get("mode", "production"), **rec["inputs"]})
                rec = {**self.record(run_id), "status": status, "error": None}
        except Exception as e:  # noqa: BLE001 - recorded; the run keeps its checkpoint
            rec = {**self.record(run_id), "status": FAILED, "error": f"{type(e).__name__}: {e}"}
        finally:
            with self._lock:
                self._active.discard(run_id)
        self._save(rec)

    # reading
    def describe(self, run_id: str) -> dict:
        rec = self.record(run_id)
        st = self.g.get_state(config_for(run_id))
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
                req = pending_request(self.g, config_for(r["id"]))
                if req:
                    out.append({"id": r["id"], "run_dir": r["run_dir"], "request": req})
        return out
