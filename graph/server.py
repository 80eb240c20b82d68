"""`pioneer serve`: the graph over HTTP.

- LangServe routes of the graph under /pioneer (invoke, stream, batch, playground...). The thread id comes
  from the `X-Thread-Id` header, the run settings from an optional `X-Pioneer-Settings` JSON header; an
  adapter passes them to the graph as its context.
- Background runs of either mode: POST /runs starts one (each on its own thread), GET /runs[/{id}[/report|/events]] reads
  them, GET /approvals lists the runs waiting for a person, POST /approvals/{id} answers one.
- Every request needs the API key in `X-API-Key` (from PIONEER_API_KEY), unless the server is bound to
  loopback and started with --no-auth. Bodies are size-limited; paths must lie under the data roots.
- Runs checkpoint to SQLite in the state folder, or to Postgres with a URL; a restarted server continues
  the runs that were going.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from fastapi import Depends, FastAPI, HTTPException, Request  # at module level: FastAPI resolves annotations here
from langchain_core.runnables import Runnable

from graph.background import RunManager
from graph.requests import resolve_input_paths, run_request, run_settings
from graph.runs import checkpointer, compiled
from graph.service import BadInput
from tools.store.paths import BadName, PathNotAllowed, child


@dataclass
class ServerSettings:
    state_dir: Path = Path("runs/server")  # run folders, their records, the SQLite checkpoints
    data_roots: list[Path] = field(default_factory=lambda: [Path.cwd()])
    api_key: str | None = None
    database_url: str | None = None  # postgres://...; default: state_dir/checkpoints.sqlite
    max_body_bytes: int = 1_000_000
    workers: int = 2
    home: str | None = None  # pioneer home (registry, memory)

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a whole number of at least 1, not {self.workers!r}")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be at least 1024, not {self.max_body_bytes!r}")
        if not self.data_roots:
            raise ValueError("at least one data root is needed")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------ LangServe adapter


class GraphWithContext(Runnable):
    """The compiled graph as a Runnable whose context comes from the request (LangServe passes only a
    config): run folder from the thread id, settings from the X-Pioneer-Settings header."""

    def __init__(self, graph, settings: ServerSettings):
        self.graph, self.settings = graph, settings

    @property
    def InputType(self) -> Any:  # noqa: N802 - Runnable's API
        return dict

    @property
    def OutputType(self) -> Any:  # noqa: N802
        return dict

    def get_input_schema(self, config=None):
        return self.graph.get_input_schema(config)

    def get_output_schema(self, config=None):
        return self.graph.get_output_schema(config)

    def run_dir(self, thread: str) -> Path:
        """A thread's run folder, always inside the state folder (the thread id is a plain name)."""
        return child(self.settings.state_dir / "threads", thread, "thread id")

    def context(self, config: dict | None):
        from graph.context import Context

        conf = (config or {}).get("configurable") or {}
        run_dir = self.run_dir(conf.get("thread_id") or "default")
        return Context(run_dir=str(run_dir), home=self.settings.home, **conf.get("pioneer_settings", {}))

    @contextmanager
    def _thread(self, config: dict | None):
        """One request at a time on a thread: a second one while the first runs gets 409."""
        from tools.store.locks import Busy, hold_run_folder

        ctx = self.context(config)
        try:
            with hold_run_folder(ctx.run_dir):
                yield ctx
        except Busy:
            raise HTTPException(409, f"thread {Path(ctx.run_dir).name} is running another request; wait for it") from None

    def invoke(self, input, config=None, **kwargs):
        with self._thread(config) as ctx:
            return self.graph.invoke(input, config, context=ctx, durability="sync")

    async def ainvoke(self, input, config=None, **kwargs):
        return await asyncio.to_thread(self.invoke, input, config)

    def stream(self, input, config=None, **kwargs) -> Iterator[dict]:
        with self._thread(config) as ctx:
            for mode, chunk in self.graph.stream(input, config, context=ctx, stream_mode=["custom", "updates"], durability="sync"):
                yield {"progress" if mode == "custom" else "update": chunk}

    async def astream(self, input, config=None, **kwargs):
        loop, queue, done = asyncio.get_running_loop(), asyncio.Queue(), object()

        def work() -> None:
            try:
                for item in self.stream(input, config):
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except BaseException as e:  # noqa: BLE001 - handed to the event loop
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        fut = loop.run_in_executor(None, work)
        while (item := await queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
        await fut


# ------------------------------------------------------------------ request guard


class Guard:
    """ASGI middleware: API key, body size, and data roots for the paths in LangServe request bodies."""

    def __init__(self, app, settings: ServerSettings):
        self.app, self.settings = app, settings

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        if self.settings.api_key and path != "/healthz":
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), self.settings.api_key.encode()):
                return await _reply(send, 401, "missing or wrong API key (header X-API-Key)")
        limit = self.settings.max_body_bytes
        if int(headers.get("content-length") or 0) > limit:
            return await _reply(send, 413, f"request body over {limit} bytes")
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > limit:
                return await _reply(send, 413, f"request body over {limit} bytes")
        if path.startswith("/pioneer/") and body:
            try:
                payload = json.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                payload = None  # LangServe answers malformed bodies itself
            if payload is not None:
                try:
                    resolved = self._resolve_paths(payload)
                except PathNotAllowed as e:
                    return await _reply(send, 403, str(e))
                # what runs opens exactly what was checked: the paths resolved, relative ones under the first root
                body = json.dumps(resolved).encode()
                scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
                         + [(b"content-length", str(len(body)).encode())]}

        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _resolve_paths(self, payload):
        """The body with every path of its graph inputs resolved under the data roots (PathNotAllowed if not)."""
        if not isinstance(payload, dict):
            return payload
        out = dict(payload)
        if isinstance(out.get("input"), dict):
            out["input"] = resolve_input_paths(out["input"], self.settings.data_roots)
        if isinstance(out.get("inputs"), list):
            out["inputs"] = [resolve_input_paths(i, self.settings.data_roots) if isinstance(i, dict) else i for i in out["inputs"]]
        return out


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ the app


def create_app(settings: ServerSettings):
    from langserve import add_routes

    from agents.reviewer import parse_decision

    def _settings(raw: dict) -> dict:
        return run_settings(raw, settings.data_roots)

    settings.state_dir = Path(settings.state_dir).resolve()
    settings.data_roots = [Path(r).resolve() for r in settings.data_roots]
    stack = ExitStack()
    saver = stack.enter_context(checkpointer(settings.database_url or settings.state_dir / "checkpoints.sqlite"))
    graph = compiled(saver)
    runs = RunManager(graph, settings.state_dir / "runs", home=settings.home, workers=settings.workers)

    @asynccontextmanager
    async def lifespan(app):
        runs.resume_unfinished()
        try:
            yield
        finally:
            stack.close()

    app = FastAPI(title="pioneer", description=__doc__, lifespan=lifespan)
    app.state.runs = runs

    def thread_and_settings(config: dict, request: Request) -> dict:
        conf = {}  # nothing of the body's `configurable` is taken: the thread and the settings come from checked headers
        thread = request.headers.get("x-thread-id") or "default"
        try:
            conf["thread_id"] = check_thread(thread)
        except BadName as e:
            raise HTTPException(400, f"X-Thread-Id: {e}") from None
        raw = request.headers.get("x-pioneer-settings")
        if raw:
            try:
                conf["pioneer_settings"] = _settings(json.loads(raw))
            except PathNotAllowed as e:
                raise HTTPException(403, f"X-Pioneer-Settings: {e}") from None
            except (json.JSONDecodeError, ValueError) as e:
                raise HTTPException(400, f"X-Pioneer-Settings: {e}") from None
        return {**config, "configurable": conf}

    adapter = GraphWithContext(graph, settings)

    def check_thread(thread: str) -> str:
        adapter.run_dir(thread)  # BadName unless a plain name inside the state folder
        return thread

    add_routes(app, adapter, path="/pioneer", per_req_config_modifier=thread_and_settings)

    async def json_object(request: Request) -> dict:
        """The body as a JSON object, whatever content type the client sent (curl -d sends a form type)."""
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPException(400, f"the body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "the body must be a JSON object")
        return body

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/runs", status_code=202)
    def start_run(body: dict = Depends(json_object)) -> dict:
        """Start a run in the background: production {model, logs, train_data?, skip_bad_lines?, settings?}, or
        cold start {"mode": "cold_start", description, data?, labels?, kind?, settings?}."""
        try:
            mode, inputs, run_settings_ = run_request(body, settings.data_roots)
        except PathNotAllowed as e:
            raise HTTPException(403, str(e)) from None
        except (BadInput, ValueError) as e:
            raise HTTPException(400, str(e)) from None
        return runs.start(inputs, run_settings_, mode)

    @app.get("/runs")
    def list_runs() -> list[dict]:
        return [{k: r.get(k) for k in ("id", "status", "created", "error")} for r in runs.records()]

    def _known(run_id: str) -> dict:
        try:
            return runs.record(run_id)
        except KeyError:
            raise HTTPException(404, f"no run {run_id}") from None

    @app.get("/runs/{run_id}")
    def get_run(run_id: str) -> dict:
        _known(run_id)
        return runs.describe(run_id)

    @app.get("/runs/{run_id}/events")
    def get_events(run_id: str, after: int = 0) -> list[dict]:
        _known(run_id)
        return runs.events(run_id, after)

    @app.get("/runs/{run_id}/report")
    def get_report(run_id: str) -> dict:
        rec = _known(run_id)
        p = Path(rec["run_dir"]) / "report.json"
        if not p.exists():
            raise HTTPException(404, f"run {run_id} has no report yet (it is {rec['status']})")
        return json.loads(p.read_text())

    @app.get("/approvals")
    def list_approvals() -> list[dict]:
        return runs.pending()

    @app.post("/approvals/{run_id}", status_code=202)
    def answer_approval(run_id: str, body: dict = Depends(json_object)) -> dict:
        """Answer a run waiting for approval: {"decision": "approve"|"reject", "note"?, "by"?}."""
        _known(run_id)
        try:
            answer = parse_decision(body)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        try:
            return runs.answer(run_id, answer)
        except LookupError as e:
            raise HTTPException(409, str(e)) from None

    return Guard(app, settings)
