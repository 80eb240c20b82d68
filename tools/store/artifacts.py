"""The run folder's work files, each declared once with its form and what it holds, and read and written through
`Workspace.read` / `Workspace.write` (tools/store/workspace.py), typed by the declaration. A module that imports
nothing of the project, so that any part of tools/ may name them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
FORMS = ("json", "rows", "array", "by_text", "folder")  # a JSON document, JSON lines, a .npy array, rows by text, a folder


@dataclass(frozen=True)
class WorkFile(Generic[T]):
    """A work file under `run_dir/work/`: its name, its form (one of FORMS) and what it holds."""

    name: str
    form: str
    about: str = ""

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"work file {self.name}: form {self.form!r} is not one of {FORMS}")

    def __str__(self) -> str:
        return self.name


Row = dict[str, Any]  # one JSON line: {"input", "output", ...}


class Started(TypedDict):
    t: float  # when the run started (time.time())


class Splits(TypedDict, total=False):
    regression: list[str]  # log ids of the passes the gate checks for flips
    held_out_failures: list[str]  # log ids of the fixable failures no mix may use
    tuning: list[str]  # log ids the interpolation weight is chosen on


# production: diagnose writes the first three and the caches, the curriculum the mixes
TRIAGE: WorkFile[list[Row]] = WorkFile("triage.jsonl", "rows", "each log line's verdict: trusted, fixable, noise or poison, and why")
SPLITS: WorkFile[Splits] = WorkFile("splits.json", "json", "log ids of the regression set, the held-out failures and the tuning split")
PATTERNS: WorkFile[list[dict]] = WorkFile("patterns.json", "json", "the failure patterns the diagnosis found")
LOG_EMB: WorkFile[np.ndarray] = WorkFile("log_emb", "array", "the logs' embeddings")
PARENT_EMB: WorkFile[np.ndarray] = WorkFile("parent_emb", "array", "the parent data's embeddings")
DEPLOYED_PROBS: WorkFile[np.ndarray] = WorkFile("deployed_probs_by_text", "by_text", "the deployed classifier's probabilities, by text")
DEPLOYED_WORD_PROBS: WorkFile[list[np.ndarray]] = WorkFile("deployed_word_probs_by_text", "by_text",
                                                           "the deployed tagger's word probabilities, a block of rows by text")
REGRESSION_MARGINS: WorkFile[np.ndarray] = WorkFile("regression_margins", "array",
                                                    "the deployed model's least margin per regression item (a tagger's word, a generator's token)")
PARAPHRASES: WorkFile[list[Row]] = WorkFile("paraphrases.jsonl", "rows", "the chat model's paraphrases of the fixable failures")
STARTED: WorkFile[Started] = WorkFile("started.json", "json", "when the run started (its time budget counts from it)")
PROMOTION: WorkFile[dict] = WorkFile("promotion.json", "json", "the registry version a promotion made (a resumed run does not promote twice)")
# cold start: the data scout writes the pool, the frame the splits
SCOUT: WorkFile[dict] = WorkFile("scout.json", "json", "the data scout's findings and the state it hands on")
HUB: WorkFile[None] = WorkFile("hub", "folder", "data fetched from the hub")
POOL_TRAIN: WorkFile[list[Row]] = WorkFile("pool_train.jsonl", "rows", "the training data found")
POOL_TEST: WorkFile[list[Row]] = WorkFile("pool_test.jsonl", "rows", "the test data found (the evaluation set comes from it)")
FRAME: WorkFile[dict] = WorkFile("frame.json", "json", "the frozen evaluation set's makeup and the baseline")
DEV: WorkFile[list[Row]] = WorkFile("dev.jsonl", "rows", "the development split the search selects on")
TRAIN: WorkFile[list[Row]] = WorkFile("train.jsonl", "rows", "the training split")


def mix_file(iteration: int, candidate: str) -> WorkFile[list[Row]]:
    """A candidate's training mix."""
    return WorkFile(f"mix-{iteration}-{candidate}.jsonl", "rows", f"the training mix of {candidate}, iteration {iteration}")


def mix_composition(iteration: int, candidate: str) -> WorkFile[dict]:
    """What a candidate's training mix is made of; written after the mix, so a resumed run reuses only finished mixes."""
    return WorkFile(f"mix-{iteration}-{candidate}.jsonl.json", "json", f"the makeup of {candidate}'s mix, iteration {iteration}")
