"""The state machine: specialist agents as nodes, routed by the planner."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from agents import curriculum, data_scout, planner, reporter, reviewer, trainer, verifier
from graph.context import Context
from graph.routing import after_approval, after_plan
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
    g.add_edge(START, "ingest")
    g.add_edge("ingest", "diagnose")
    g.add_edge("diagnose", "plan")
    g.add_conditional_edges("plan", after_plan, ["curriculum", "approve", "report"])
    g.add_conditional_edges("approve", after_approval, ["promote", "report"])
    g.add_edge("curriculum", "train")
    g.add_edge("train", "gate")
    g.add_edge("gate", "plan")
    g.add_edge("promote", "report")
    g.add_edge("report", END)
    return g



builder = build()
graph = builder.compile()  # no checkpointer: LangGraph's server (langgraph.json) brings its own persistence
graph.name = "pioneer"
