"""Running the graph durably, for the CLI and the server: a checkpointer (SQLite by default, Postgres when
a URL is given), and a driver that streams a run or resumes it to its end or its next interrupt."""

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


def drive(g, payload, config: dict, ctx, on_event: Callable[[dict], None] | None = None) -> str:
    """Run `payload` (new inputs; None to continue from the checkpoint; a Command to answer an interrupt)
    until the graph ends or pauses; returns run_status. Finished steps are never redone on a resume."""
    if payload is None and not g.get_state(config).next:
        return run_status(g, config)
    for chunk in g.stream(payload, config, context=ctx, stream_mode="custom"):
        if on_event:
            on_event(chunk)
    return run_status(g, config)
