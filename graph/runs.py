"""Running the graph durably: a checkpointer (SQLite by default, Postgres when a URL is given), and a driver that
streams one thread to its end or its next interrupt. The run service (graph/service.py) drives every run through it."""

from __future__ import annotations

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
