"""Run settings: one typed dataclass, passed to the graph as `context=` (Studio renders it as a form)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated


@dataclass(kw_only=True)
class Context:
    run_dir: str = field(default="", metadata={"description": "Run folder: work files, candidates, report. Empty: runs/<thread id>."})
    base_model: str = field(default="minilm", metadata={"description": "Model every retrain starts from (never the deployed checkpoint). 'minilm' is the embedded all-MiniLM-L6-v2."})
    chat_model: Annotated[str | None, {"__template_metadata__": {"kind": "llm"}}] = field(
        default=None, metadata={"description": "Chat model for the agents, e.g. 'openai:gpt-4.1-mini'. None: deterministic methods only."})
    chat_base_url: str | None = field(default=None, metadata={"description": "OpenAI-compatible endpoint serving `chat_model`."})
    max_flips: int = field(default=2, metadata={"description": "Regression gate: most negative flips allowed (absolute count)."})
    min_fixed: float = field(default=0.5, metadata={"description": "Regression gate: least share of held-out failures fixed."})
    label_tolerance: float = field(default=0.15, metadata={"description": "Regression gate: largest per-label recall drop allowed."})
    max_iterations: int = field(default=3, metadata={"description": "Training iterations at most (two or more configurations each)."})
    budget_minutes: float = field(default=15.0, metadata={"description": "Stop iterating when this much time has passed."})
    regression_size: int = field(default=600, metadata={"description": "Passed logs held out as the regression set (at most)."})
    holdout_failures: float = field(default=0.15, metadata={"description": "Share of fixable failures held out to measure generalisation."})
    epochs: int = field(default=6, metadata={"description": "Training epochs of the first configuration."})
    learning_rate: float = field(default=2e-4, metadata={"description": "Learning rate of the first configuration."})
    registry_name: str | None = field(default=None, metadata={"description": "Registry entry to promote into (default: from the deployed model)."})
    home: str | None = field(default=None, metadata={"description": "Pioneer home (registry, memory). Default $PIONEER_HOME or ~/.pioneer."})
    require_approval: bool = field(default=False, metadata={"description": "Pause before promotion until a person approves (interrupt; resume with 'approve' or 'reject')."})
    use_memory: bool = field(default=True, metadata={"description": "Look up and record failure patterns in the long-term memory."})
    target: float = field(default=0.96, metadata={"description": "Cold start: stop searching at this development score."})
    catalog: str | None = field(default=None, metadata={"description": "Cold start: a folder of datasets (one sub-folder each, with a card) the data scout may use."})
    seed: int = 0
