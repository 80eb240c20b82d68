"""Routing functions: where the graph goes next, read off the state."""

from __future__ import annotations

from graph.state import State


def after_plan(state: State) -> str:
    """The planner's decision: train another round, promote the chosen candidate, or stop and report."""
    return {"train": "curriculum", "promote": "approve"}.get(state.get("plan", {}).get("action"), "report")


def after_approval(state: State) -> str:
    """Promote only what the reviewer approved (approval is automatic unless the run asks for a person)."""
    return "promote" if (state.get("approval") or {}).get("decision") == "approve" else "report"
