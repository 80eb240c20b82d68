"""Reviewer: the person in the loop. With `require_approval`, the run pauses before promotion
(a LangGraph interrupt) and shows the gate figures and examples of the flips; it goes on when resumed
with "approve" or "reject" (a string, or {"decision": ..., "note": ..., "by": ...}), from the CLI
(`pioneer approve`), the server (`POST /approvals/{thread}`) or Studio."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.progress import emit
from agents.run_data import settings
from graph.context import Context
from graph.state import State

DECISIONS = ("approve", "reject")


def approval_request(state: State) -> dict:
    """What the person sees: the candidate, its gate figures, the flips it would ship."""
    cand = state["plan"]["candidate"]
    g = cand["gate"]
    return {
        "question": "promote this model?", "answers": list(DECISIONS),
        "candidate": cand["strategy"], "stage": cand.get("stage"), "why": state["plan"].get("why", ""),
        "gate": {"negative_flips": g["negative_flips"], "max_flips": g["max_flips"], "fixed": g["fixed"],
                 "passed": g["passed"], "slices": g.get("slices", {})},
        "flip_examples": g.get("flip_examples", []),
    }


def parse_decision(answer) -> dict:
    """A resume value as {"decision", "note", "by"}; ValueError on anything else."""
    if isinstance(answer, str):
        answer = {"decision": answer}
    if not isinstance(answer, dict) or str(answer.get("decision", "")).lower() not in DECISIONS:
        raise ValueError(f"an approval answer is 'approve' or 'reject' (or {{'decision': ...}}), not {answer!r}")
    return {"decision": str(answer["decision"]).lower(), "note": str(answer.get("note") or ""), "by": str(answer.get("by") or "")}


def approve(state: State, runtime: Runtime[Context]) -> dict:
    ctx = settings(runtime)
    if not ctx.require_approval:
        return {"approval": {"required": False, "decision": "approve"}}
    request = approval_request(state)
    emit("approve", f"waiting for approval: {request['candidate']}, {request['gate']['negative_flips']} flips, "
                    f"fixed {request['gate']['fixed']}", request=request)
    answer = interrupt(request)
    while True:
        try:
            decision = parse_decision(answer)
            break
        except ValueError as e:  # a malformed answer: ask again rather than guess
            answer = interrupt({**request, "error": str(e)})
    emit("approve", f"{decision['decision']}d" + (f" by {decision['by']}" if decision["by"] else "")
         + (f": {decision['note']}" if decision["note"] else ""))
    return {"approval": {"required": True, **decision}}
