"""The training seam: jobs, results, the backend protocol and its registry (lazy "module:Class" entries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from tools.plugins import make

Progress = Callable[["TrainJob", dict], None]  # (job, {"started": True}) when a job starts, then (job, {"step", "total", "epoch", "loss"})


@dataclass
class TrainJob:
    """One model to train: plain data, so that a backend may run it in this process or ship it elsewhere."""

    name: str  # the candidate's name, for progress
    kind: str  # the task kind (tools.kinds) whose `train` does the work
    out_dir: str
    texts: list[str]
    targets: list[Any]
    labels: list[str]
    config: Any  # tools.models.classifier.TrainConfig
    base_model: str | None = None  # trained from the base model ...
    start: str | None = None  # ... or warm-started from this checkpoint
    teacher: Any = None  # soft answers for focal distillation, as the kind's `teacher` makes them


@dataclass
class TrainResult:
    name: str
    model_dir: str
    examples: int
    curve: list[dict]
    seconds: float
    summary: dict = field(default_factory=dict)  # the full training summary the kind wrote


class Backend(Protocol):
    name: str

    def run(self, jobs: list[TrainJob], progress: Progress | None = None) -> list[TrainResult]:
        """Train every job; one result per job, in the jobs' order."""


# "module:Class", or the class itself
_REGISTRY: dict[str, str | type] = {"local": "tools.backends.local:Local", "ray": "tools.backends.ray_cluster:Ray"}


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str, **options: Any) -> Backend:
    """The backend `name`, made with the options it takes (`address` for ray); the others ignore them."""
    return make(_REGISTRY, name, "training backend", **options)


def result(job: TrainJob, summary: dict) -> TrainResult:
    """A job's result from the summary its kind's training wrote."""
    return TrainResult(job.name, str(Path(job.out_dir)), summary["examples"], summary["curve"], summary["seconds"], summary)
