"""The graph's typed state. Small summaries only; bulky artifacts live as files in the run folder."""

from __future__ import annotations

import operator
from typing import Annotated

from typing_extensions import TypedDict


class Inputs(TypedDict, total=False):
    mode: str  # "production" (default) or "cold_start"
    # production mode
    model: str  # deployed model folder
    logs: str  # inference logs (JSONL)
    train_data: str | None  # the deployed model's training data (optional)
    skip_bad_lines: bool
    # cold-start mode
    description: str  # the task, in a sentence
    data: list[str]  # the user's data files or folders (optional)
    kind: str | None  # classification | ner | generation (optional: inferred)
    labels: list[str]  # the label set the new model will have (cold start: optional, inferred from the data)


class State(Inputs, total=False):
    task: str
    scout: dict  # cold start: the task spec, the sources ranked, the pool's size
    evalset: dict  # cold start: the frozen evaluation set's make-up and hash, and the baseline on it
    ingest: dict  # counts, new labels, skipped lines
    diagnosis: dict  # baseline metrics, triage counts, clusters, splits
    memory: dict  # what the long-term memory suggested, if anything
    plan: dict  # what to do next: {"action", "stage", "configs", "why"}
    iterations: Annotated[list[dict], operator.add]  # every attempt, with its gate result and decision
    approval: dict  # the reviewer's decision before promotion ({"required": False} when none was asked)
    promotion: dict | None  # registry version and model folder, when promoted
    report: dict  # the final report (also written to the run folder)
    timings: Annotated[list[dict], operator.add]  # {"node", "seconds"} per node run, in order (graph/machine.py)
