"""The state machine: specialist agents as nodes, routed by the planner.

Production: ingest -> diagnose -> plan <-> (curriculum -> train -> gate) -> approve -> promote -> report.
Cold start: scout -> frame (frozen evaluation set, baseline) -> search <-> (cold_mix -> train -> score) -> finish -> report.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agents import curriculum, data_scout, planner, reporter, reviewer, trainer, verifier
from graph.context import Context
from graph.routing import after_approval, after_plan, after_search, after_train, by_mode
from graph.state import Inputs, State


def build() -> StateGraph:
    """An uncompiled builder; compile it with your own checkpointer and store."""
    g = StateGraph(State, context_schema=Context, input_schema=Inputs)
    g.add_node("ingest", data_scout.ingest)
    g.add_node("diagnose", verifier.diagnose)
    g.add_node("plan", planner.plan)
    g.add_node("curriculum", curriculum.synthesize)
    g.add_node("train", trainer.train)
    g.add_node("gate", verifier.gate)
    g.add_node("approve", reviewer.approve)
    g.add_node("promote", planner.promote)
    g.add_node("report", reporter.report)
    # cold start: task and data, the frozen evaluation set, then search
    g.add_node("scout", data_scout.scout)
    g.add_node("frame", verifier.frame)
    g.add_node("search", planner.search)
    g.add_node("cold_mix", curriculum.cold_mix)
    g.add_node("score", verifier.score)
    g.add_node("finish", planner.finish)

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
