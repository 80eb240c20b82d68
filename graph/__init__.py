"""Wiring only: state, context, routing and the state machine.

`builder` is the uncompiled StateGraph (compile it with your own checkpointer and store); `graph` is
compiled without a checkpointer, for `langgraph.json` (LangGraph's server brings its own persistence).
Both are made on first use, so importing `graph.context` or `graph.state` (as every agent does) does
not build the graph.
"""

from graph.context import Context
from graph.state import State

__all__ = ["Context", "State", "build", "builder", "graph"]


def __getattr__(name: str):
    if name == "build":
        from graph.machine import build

        return build
    if name == "builder":
        from graph.machine import build

        globals()["builder"] = b = build()
        return b
    if name == "graph":
        from graph.machine import build

        g = build().compile()
        g.name = "pioneer"
        globals()["graph"] = g
        return g
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
