"""Wiring only: state, context, routing and the state machine.

`builder` is the uncompiled StateGraph (compile it with your own checkpointer and store); `graph` is
compiled without a checkpointer, for `langgraph.json` (LangGraph's server brings its own persistence).
Both are made on first use here (importing `graph.context` or `graph.state`, as every agent does, does
not build the graph); langgraph.json points at `graph/machine.py`, which builds them when loaded.
"""

from graph.context import Context
from graph.state import State

__all__ = ["Context", "State", "build", "builder", "graph"]


def __getattr__(name: str):
    if name == "build":
        from graph.machine import build

        return build
    if name in ("builder", "graph"):
        from graph import machine

        return getattr(machine, name)
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
