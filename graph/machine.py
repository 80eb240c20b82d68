"""The state machine: specialist agents as nodes, routed by the planner.

Production: ingest -> diagnose -> plan <-> (curriculum -> train -> gate) -> approve -> promote -> report.
Cold start: scout -> frame (frozen evaluation set, baseline) -> search <-> (cold_mix -> train -> score) -> finish -> report.
"""

from __future__ import annotations

import time
from typing import Callable

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agents import curriculum, data_scout, planner, reporter, reviewer, trainer, verifier
from graph.context import Context
from graph.routing import after_approval, after_plan, after_search, after_train, by_mode
from graph.state import Inputs, State


def timed(name: str, node: Callable[[State, Runtime[Context]], dict]) -> Callable[[State, Runtime[Context]], dict]:
    """`node`, its wall time appended to the state's `timings` (the report's seconds per node). A node that
    pauses for an answer (approval) is timed on the call that finishes it."""
    def run(state: State, runtime: Runtime[Context]) -> dict:
        t = time.time()
        update = node(state, runtime)
        return {**update, "timings": [{"node": name, "seconds": round(time.time() - t, 2)}]}

    run.__name__ = run.__qualname__ = name
    run.__doc__ = node.__doc__
    return run


def build() -> StateGraph:
    """An uncompiled builder; compile it with your own checkpointer and store."""
    g = StateGraph(State, context_schema=Context, input_schema=Inputs)
    node = lambda name, fn: g.add_node(name, timed(name, fn))  # noqa: E731
    node("ingest", data_scout.ingest)
    node("diagnose", verifier.diagnose)
    node("plan", planner.plan)
    node("curriculum", curriculum.synthesize)
    node("train", trainer.train)
    node("gate", verifier.gate)
    node("approve", reviewer.approve)
    node("promote", planner.promote)
    node("report", reporter.report)
    # cold start: task and data, the frozen evaluation set, then search
    node("scout", data_scout.scout)
    node("frame", verifier.frame)
    node("search", planner.search)
    node("cold_mix", curriculum.cold_mix)
    node("score", verifier.score)
    node("finish", planner.finish)

    g.add_conditional_edges(START, by_mode, ["ingest", "scout"])
    g.add_edge("ingest", "diagnose")
    g.add_edge("diagnose", "plan")
    g.add_conditional_edges("plan", after_plan, ["curriculum", "approve", "report"])
    g.add_conditional_edges("approve", after_approval, ["promote", "report"])
    g.add_edge("curriculum", "train")
    g.add_conditional_edges("train", after_train, ["gate", "score"])
    g.add_edge("gate", "plan")
    g.add_edge("promote", "report")
    g.add_edge("report", END)
    g.add_edge("scout", "frame")
    g.add_edge("frame", "search")
    g.add_conditional_edges("search", after_search, ["cold_mix", "finish"])
    g.add_edge("cold_mix", "train")
    g.add_edge("score", "search")
    g.add_edge("finish", "report")
    return g



builder = build()
graph = builder.compile()  # no checkpointer: LangGraph's server (langgraph.json) brings its own persistence
graph.name = "pioneer"
