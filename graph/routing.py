"""Routing functions: where the graph goes next, read off the state."""

from __future__ import annotations

from graph.state import State


def after_plan(state: State) -> str:
    """The planner's decision: train another round, promote the chosen candidate, or stop and report."""
    return {"train": "curriculum", "promote": "promote"}.get(state.get("plan", {}).get("action"), "report")
