"""Routing functions: where the graph goes next, read off the state."""

from __future__ import annotations

from graph.state import State


def after_plan(state: State) -> str:
    """The planner's decision: train another round, promote the chosen candidate, or stop and report."""
    return {"train": "curriculum", "promote": "approve"}.get(state.get("plan", {}).get("action"), "report")


def after_approval(state: State) -> str:
    """Promote only what the reviewer approved (approval is automatic unless the run asks for a person)."""
    return "promote" if (state.get("approval") or {}).get("decision") == "approve" else "report"


def by_mode(state: State) -> str:
    """Production mode starts from the logs; cold start from the task description."""
    return "scout" if state.get("mode") == "cold_start" else "ingest"


def after_train(state: State) -> str:
    """Production candidates face the regression gate; cold-start candidates are scored on the dev split."""
    return "score" if state.get("mode") == "cold_start" else "gate"


def after_search(state: State) -> str:
    return "cold_mix" if state.get("plan", {}).get("action") == "train" else "finish"
