"""The run service: start, resume, answer and read a run of either mode in a run folder, for the CLI, the
benchmarks and the HTTP server (whose background threads, graph/background.py, drive their runs through `drive`).

A run folder holds `run.json` (the inputs, the settings by Context field name, the thread, the status) and the
checkpoints; it belongs to one process at a time (a lock the kernel drops when the process dies). A run that
was killed resumes when it is started again with the same inputs and settings: finished steps are not redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from graph.context import PRODUCTION, field_for
from graph.runs import AWAITING_APPROVAL, FINISHED
from tools.kinds import known as known_kinds  # what `new --kind` and a cold-start request may name (planned kinds are refused later)

Event = Callable[[dict], None]  # a progress chunk ({"stage", "message", ...}) as the agents emit it
Ask = Callable[[dict], "dict | None"]  # an approval request -> an answer ({"decision", "note", "by"}), or None: later
Say = Callable[[str], None]  # a notice for a person


# The contract's exit statuses: finished, internal error, bad input (BadInput), waiting for a person's approval.
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_AWAITING_APPROVAL = 0, 1, 2, 3


class BadInput(Exception):
    """Input refused before a run starts, or a run folder that cannot take this run: the CLI's exit 2."""


def setup_env() -> None:
    """Offline, quiet libraries: no hub, no telemetry, no progress bars, warnings only where they matter."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import warnings

    warnings.filterwarnings("ignore", message=".*config_schema.*")
    for name in ("transformers", "httpx", "chromadb", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


def check_production(inputs: dict) -> None:
    """Refuse a production run's bad input (file, line, reason) before any run folder exists."""
    from agents.data_scout import validate_inputs
    from tools.store.data import DataError

    try:
        validate_inputs(inputs["model"], inputs["logs"], inputs.get("train_data"), bool(inputs.get("skip_bad_lines")))
    except DataError as e:
        raise BadInput(str(e)) from None


def check_cold_start(inputs: dict, settings: dict) -> None:
    """Refuse a cold start's bad input before any run folder exists: no description, an unknown kind, labels that
    are not names, unreadable data, or no source of data at all."""
    from tools.coldstart.sources import load_source
    from tools.store.data import DataError

    if not isinstance(inputs.get("description"), str) or not inputs["description"].strip():
        raise BadInput("the task description must be a non-empty sentence")
    if inputs.get("kind") is not None and inputs["kind"] not in known_kinds():
        raise BadInput(f"kind {inputs['kind']!r} is not one of {', '.join(known_kinds())}")
    labels = inputs.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(l, str) and l.strip() for l in labels)):
        raise BadInput("labels must be a list of names")
    data = inputs.get("data") or []
    if not data and not settings.get("catalog") and not settings.get("chat_model"):
        from tools.coldstart.scout import hub_status

        hub_ok, hub_note = hub_status()
        if not hub_ok:
            raise BadInput("no data source for this task: pass --data FILE|DIR with labelled examples (JSONL, CSV, CoNLL, ...), "
                           "or --catalog DIR with datasets that have a card, or --chat-model to synthesize examples; " + hub_note)
    for d in data:
        try:
            load_source(d)
        except DataError as e:
            raise BadInput(str(e)) from None


WHERE = ("backend", "ray_address", "tracking_uri")  # where a run trains and reports, not what it computes


def run_key(inputs: dict, settings: dict, *, legacy: bool = False) -> str:
    """What makes two runs the same run: the input files (path, size, time), the task words, the settings but
    those of WHERE (a run resumed on another Ray cluster, or told to report to MLflow, is the same run).
    `legacy`: the key of a run folder made before WHERE was left out (every setting in it)."""
    settings = settings if legacy else {k: v for k, v in settings.items() if k not in WHERE}
    parts = []
    for k in ("model", "logs", "train_data", "data"):
        for v in (inputs.get(k) if isinstance(inputs.get(k), list) else [inputs.get(k)]):
            if v:
                st = Path(v).stat()
                parts.append(f"{Path(v).resolve()}:{st.st_size}:{int(st.st_mtime)}")
    parts.append(json.dumps({k: inputs.get(k) for k in ("description", "labels", "kind")}, sort_keys=True))
    parts.append(json.dumps(settings, sort_keys=True))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def find_unfinished(key: str, runs: Path) -> Path | None:
    """The newest run folder under `runs` that holds an unfinished run of `key`."""
    if not runs.exists():
        return None
    for d in sorted(runs.iterdir(), reverse=True):
        meta = d / "run.json"
        if meta.exists():
            try:
                m = json.loads(meta.read_text())
            except json.JSONDecodeError:
                continue
            if m.get("key") == key and m.get("status") != FINISHED:
                return d
    return None


@contextmanager
def holding(run_dir: Path):
    """The run folder's lock for this process: a second process on the same folder is refused (BadInput)."""
    from tools.store.locks import Busy, hold_run_folder

    try:
        with hold_run_folder(run_dir):
            yield
    except Busy as e:
        raise BadInput(f"{run_dir} is in use by {e.holder or 'another process'}: that run is going; "
                       "wait for it to end (then the same command reports or resumes it), or choose another --out") from None


def database(meta: dict, run_dir: Path, database_url: str | None) -> str:
    """Where a run checkpoints: its Postgres URL (given, or $PIONEER_DATABASE_URL), else its SQLite file."""
    if meta.get("database") == "postgres":
        url = database_url or os.environ.get("PIONEER_DATABASE_URL")
        if not url:
            raise BadInput("this run checkpoints to Postgres: give --database-url or set PIONEER_DATABASE_URL")
        return url
    return meta.get("database") or str(run_dir / "checkpoints.sqlite")


def context_of(meta: dict, run_dir: Path, home: str | None = None):
    """The Context of a recorded run (settings by field name; a run.json written before the Context was the one
    spelling keyed some by their flag, `base` for `base_model`); `home`, where a server keeps models and memory."""
    from graph.context import FIELDS, Context

    settings = {field_for(k): v for k, v in meta["settings"].items()}
    owned = {"home": home} if home else {}
    return Context(run_dir=str(run_dir), **{k: v for k, v in settings.items() if k in FIELDS and v is not None}, **owned)


def start(inputs: dict, settings: dict, out: str | None = None, *, mode: str = PRODUCTION, database_url: str | None = None,
          on_event: Event | None = None, ask: Ask | None = None, say: Say | None = None) -> tuple[str, Path]:
    """Start a run, or resume the unfinished one of the same inputs and settings (in `out`, else the newest under
    runs/), to its end or to an approval nobody answered. Returns its status (finished, awaiting_approval) and
    its folder. Progress goes to `on_event`, approval requests to `ask`, a notice for a person (a run that had
    already finished) to `say`. Bad input found inside a fresh run leaves no folder behind."""
    from graph.runs import is_postgres
    from tools.store.data import write_json

    key = run_key(inputs, settings)
    run_dir = Path(out) if out else find_unfinished(key, Path("runs")) or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    meta_file = run_dir / "run.json"
    resumed = meta_file.exists()
    meta = {"key": key, "mode": mode, "inputs": inputs, "settings": settings, "thread": f"run-{key}-{run_dir.name}",
            "database": "postgres" if is_postgres(database_url) else str(run_dir / "checkpoints.sqlite")}
    if resumed:
        meta = json.loads(meta_file.read_text())
        if meta.get("key") not in (key, run_key(inputs, settings, legacy=True)):
            raise BadInput(f"{run_dir} holds a run with other inputs or settings; choose another --out")
        meta["settings"] = {**meta["settings"], **{k: settings[k] for k in WHERE if k in settings}}  # this time's
        if meta.get("status") == FINISHED:
            if say:
                say(f"{run_dir} already finished; see {run_dir / 'report.md'}")
            if (meta.get("tracking") or {}).get("error") or "tracking" not in meta:  # the tracking server failed, or was added since
                with holding(run_dir):
                    track(run_dir, context_of(meta, run_dir).tracking_uri, on_event)
            return FINISHED, run_dir
    fresh = not run_dir.exists()
    with holding(run_dir):
        try:
            write_json(meta_file, {**meta, "status": "running"})
            if on_event:
                on_event({"stage": "run", "message": f"{'resuming' if resumed else 'run folder'}: {run_dir}"})
            return drive(run_dir, meta, None if resumed else {"mode": mode, **inputs}, database_url, on_event, ask), run_dir
        except Exception as e:
            from tools.coldstart.taskspec import TaskError
            from tools.store.data import DataError

            if fresh and isinstance(e, (BadInput, DataError, TaskError)):  # bad input found inside the run: leave nothing
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def answer(run_dir: Path, decision: dict, database_url: str | None = None, on_event: Event | None = None,
           ask: Ask | None = None) -> str:
    """Answer a run that waits for approval ({"decision": "approve"|"reject", "note", "by"}) and drive it on."""
    from langgraph.types import Command

    meta_file = run_dir / "run.json"
    if not meta_file.exists():
        raise BadInput(f"{run_dir}: not a run folder (no run.json)")
    with holding(run_dir):
        meta = json.loads(meta_file.read_text())
        check_awaiting(meta, run_dir)
        return drive(run_dir, meta, Command(resume=decision), database_url, on_event, ask)


def check_awaiting(meta: dict, run: str | Path, shows_request: bool = True) -> None:
    """BadInput unless the run (named `run` in the message: its folder, or the server's run id) waits for an
    approval, and its checkpoint, where it was read, shows the request."""
    if meta.get("status") != AWAITING_APPROVAL or not shows_request:
        raise BadInput(f"{run}: no approval pending (the run is {meta.get('status')})")


def drive(run_dir: Path, meta: dict, payload, database_url: str | None = None, on_event: Event | None = None, ask: Ask | None = None,
          *, graph=None, home: str | None = None) -> str:
    """Run (or resume, or answer) the run's thread to its end or to an approval, and record its status in run.json.
    A pause is put to `ask`; with no answer the status awaiting_approval is recorded and returned. `graph`: a graph
    compiled on a checkpointer the caller shares between runs (the server's); else the run's own is opened."""
    from graph.runs import checkpointer, compiled, config_for, pending_request
    from graph.runs import drive as drive_thread
    from langgraph.types import Command
    from tools.store.data import write_json

    if graph is None:
        with checkpointer(database(meta, run_dir, database_url)) as saver:
            return drive(run_dir, meta, payload, database_url, on_event, ask, graph=compiled(saver), home=home)
    ctx = context_of(meta, run_dir, home)
    config = config_for(meta.get("thread", "run"))
    status = drive_thread(graph, payload, config, ctx, on_event, start={"mode": meta.get("mode", PRODUCTION), **meta["inputs"]})
    while status == AWAITING_APPROVAL:
        reply = ask({**pending_request(graph, config), "run_dir": str(run_dir)}) if ask else None
        if reply is None:
            break
        status = drive_thread(graph, Command(resume=reply), config, ctx, on_event)
    write_json(run_dir / "run.json", {**meta, "status": status})
    if status == FINISHED:
        track(run_dir, ctx.tracking_uri, on_event)
    return status


def track(run_dir: Path, setting: str | None, on_event: Event | None) -> None:
    """A finished run mirrored to MLflow where a tracking URI is set. The run folder and Pioneer's registry are the
    record: a tracking server that fails is reported (and written in run.json), never the run's failure."""
    from tools.store.data import write_json
    from tools.store.tracking import log_run, tracking_uri

    uri = tracking_uri(setting)
    if not uri:
        return
    meta = json.loads((run_dir / "run.json").read_text())
    try:
        done = log_run(uri, run_dir)
        message = f"MLflow {uri}: run {done['run_id']} in {done['experiment']}" + (
            f", model version {done['model_version']} (alias champion)" if done["model_version"] else "")
    except Exception as e:  # the server down, refused, or MLflow not installed
        done, message = {"error": f"{type(e).__name__}: {e}"[:2000]}, f"MLflow {uri}: not recorded ({type(e).__name__}: {e})"
    write_json(run_dir / "run.json", {**meta, "tracking": {"uri": uri, **done}})
    if on_event:
        on_event({"stage": "track", "message": message})


def report(run_dir: Path) -> dict:
    """A finished run's report.json."""
    return json.loads((Path(run_dir) / "report.json").read_text())
