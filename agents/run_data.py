"""What every node after ingest reads: the validated inputs, the run folder's artifacts, and where the
registry and memory live for this run."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from tools.store.artifacts import SPLITS, TRIAGE
from tools.store.data import Example, LogRecord, load_examples, load_logs
from tools.store.registry import Registry
from tools.store.workspace import RunData, Workspace


def settings(runtime: Runtime[Context]) -> Context:
    """The run's settings. No context (a bare Studio run) means the defaults; an empty `run_dir` means
    runs/<thread id>, so that threads run side by side (Studio, the server) never share a folder."""
    ctx = (runtime.context if runtime is not None else None) or Context()
    if not ctx.run_dir:
        from langgraph.config import get_config

        from tools.store.paths import folder_name

        try:
            thread = (get_config().get("configurable") or {}).get("thread_id") or "default"
        except RuntimeError:  # called outside a graph run (a node called as a plain function)
            thread = "default"
        ctx = replace(ctx, run_dir=str(Path("runs") / folder_name(str(thread))))
    return ctx


def load_run_data(state: State) -> tuple[list[LogRecord], list[Example]]:
    """Logs and parent data as the ingest step validated them (entity spans in canonical form), parsed once per
    process for as long as the files stay as they are: the nodes after ingest all read them."""
    task = state.get("task", "classification")
    key = (task, bool(state.get("skip_bad_lines")), _identity(state["logs"]), _identity(state.get("train_data")))
    with _LOCK:
        hit = _PARSED.get(key)
    if hit is None:
        records = load_logs(state["logs"], task=task, skip_bad=bool(state.get("skip_bad_lines"))).records
        hit = (records, load_examples(state["train_data"], task=task) if state.get("train_data") else [])
        with _LOCK:
            while len(_PARSED) >= 4:  # the runs of a server's workers, at most
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[key] = hit
    return list(hit[0]), list(hit[1])


_PARSED: dict[tuple, tuple[list[LogRecord], list[Example]]] = {}
_LOCK = threading.Lock()


def _identity(path: str | None) -> tuple | None:
    """A file as it is now: its resolved path, size and modification time (None: no file)."""
    if not path:
        return None
    st = Path(path).stat()
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns


def run_data(state: State, ctx: Context) -> RunData:
    """Inputs plus the diagnosis's triage and splits (after the diagnose step)."""
    ws = Workspace(ctx.run_dir)
    records, parent = load_run_data(state)
    tri = {t["id"]: t for t in ws.read(TRIAGE)}
    return RunData(ws, records, parent, tri, ws.read(SPLITS))


def registry_name(state: State, ctx: Context) -> str:
    """The registry entry: --name, else the name a pioneer-written model carries, else its folder's name."""
    meta = Path(state["model"]) / "pioneer.json"
    written = json.loads(meta.read_text()).get("name") if meta.exists() else None
    from tools.store.paths import as_name

    # a name read from a file or a folder is made a valid one; a name the user gave was checked by the Context
    return ctx.registry_name or (as_name(str(written)) if written else None) or as_name(Path(state["model"]).resolve().name)


def registry_for(state: State, ctx: Context) -> Registry:
    return Registry(registry_name(state, ctx), Path(ctx.home) / "registry" if ctx.home else None)


def memory_path(ctx: Context) -> Path | None:
    return Path(ctx.home) / "memory" if ctx.home else None
