"""Wiring only: state, context, routing and the builder.

`builder` is uncompiled (compile it with your own checkpointer and store); `graph` is compiled without a
checkpointer, for `langgraph.json` (LangGraph's server brings its own persistence).
"""

from graph.builder import build, builder
from graph.context import Context
from graph.state import State

graph = builder.compile()
graph.name = "pioneer"

__all__ = ["Context", "State", "build", "builder", "graph"]
