"""The task-kind protocol and its registry.

The registry holds lazy "module:Class" entries (as lm-evaluation-harness does for its tasks), so importing it
loads no model code; `get(name)` imports a kind on first use and keeps one instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from tools.plugins import make
from tools.store.artifacts import LOG_EMB, PARENT_EMB


@dataclass
class Diagnosis:
    """What a kind's diagnosis of the logs hands the run: each line's triage verdict, the evaluation splits (log
    ids), the failure patterns, the kind's own figures for the state, and a line for the progress."""

    triage: list[dict]
    splits: dict[str, list[str]]
    patterns: list[dict]
    figures: dict = field(default_factory=dict)
    said: str = ""


def embeddings(ws, records: list, parent: list):
    """The logs' and the parent data's embeddings, computed once a run (the curriculum reads them back)."""
    import numpy as np

    from tools.models.embed import embed

    log_emb = ws.array(LOG_EMB, lambda: embed([r.input for r in records]))
    parent_emb = ws.array(PARENT_EMB, lambda: embed([e.input for e in parent]) if parent else np.zeros((0, log_emb.shape[1]), np.float32))
    return log_emb, parent_emb


@runtime_checkable
class TaskKind(Protocol):
    name: str  # the state's `task`: "classification", "ner", "generation"
    metric: str  # the metric the search selects on and the reports name: "accuracy", "entity F1"
    unit: str  # what a flip counts: "answers", "sentences"
    noun: str  # what the deployed model's output set is called: "labels", "entity types"
    metric_key: str  # the task spec's metric: "accuracy", "entity_f1"
    words: str  # a regular expression: a task description using these words asks for this kind
    min_labels: int  # the fewest labels (or entity types) a task of this kind can have; 0: none needed
    report_columns: tuple[tuple[str, str], ...]  # (heading, metrics key) columns of the cold-start report

    def map_answer(self, answer: Any, labels: list[str], level: str) -> Any:
        """A source's answer on the task's labels (`level` "coarse": LABEL:sub labels cut at the colon); None when
        the example has no place in the task."""

    def claims(self, output: Any) -> bool:
        """Whether an answer has this kind's shape (how the logs and the data say which kind a task is)."""

    def check_output(self, value: Any, text: str, what: str) -> str | None:
        """Why `value` is no valid answer to `text` (a data error's reason), None when it is."""

    def canonical(self, value: Any) -> Any:
        """An answer as the run compares it."""

    def owns(self, model_dir: str | Path) -> bool:
        """Whether a model folder is a model of this kind."""

    def check_model(self, model_dir: str | Path) -> list[str]:
        """The deployed model's labels (or entity types); DataError when the folder is not this kind's model."""

    def predict(self, model_dir: str | Path, texts: list[str]) -> list[Any]:
        """One answer per text."""

    def metrics(self, texts: list[str], truth: list[Any], pred: list[Any]) -> dict:
        """The kind's metrics of answers against the truth."""

    def score(self, metrics: dict) -> float:
        """The one number a search selects on, from `metrics`."""

    dropped: str  # how the gate's label_drops rule reads: "label recall dropped"
    fixed_what: str  # what the absolute gate's share fixed counts, "{}" standing for the held-out slice

    def churn(self, ws: Any, model_dir: str | Path, texts: list[str], answers: list[Any] | None = None) -> list[float] | None:
        """Each of the deployed model's answers to `texts` (`answers`: as logged) with its churn, the chance a retrain
        flips it, from the deployed model's margin on it; None where the kind has no estimate."""

    def churn_by_margin(self) -> tuple[tuple[float, float], ...]:
        """The measured chance that a retrain flips a right answer, by margin: ((upper margin, rate), ...)."""

    def gate_evidence(self, reg_truth: list, reg_before: list, reg_after: list, fail_truth: list, fail_before: list, fail_after: list,
                      tolerance: float) -> tuple[float | None, dict[str, float], float]:
        """What the gate's rules read besides the flips: the share of held-out failures fixed, the labels that lost
        more than `tolerance`, and the regression set's accuracy. The answers come judged (`tools.gate.as_judged`):
        one the kind judges right is its truth."""

    def log_figures(self, texts: list[str], truth: list[Any], pred: list[Any], reg_texts: list[str], reg_truth: list[Any],
                    reg_pred: list[Any]) -> dict:
        """How a report shows a model on the usable logs and on the regression set."""

    def labels_of(self, answer: Any) -> list[str]:
        """The labels an answer is about (an entity answer: its spans' types)."""

    def deployed_probs(self, ws, model_dir: str | Path, texts: list[str]) -> Any:
        """The deployed model's probabilities on `texts`, computed once a run (`ws`, a Workspace, caches them)."""

    def teacher(self, ws, deployed: str | Path, texts: list[str], targets: list[Any], labels: list[str]) -> Any:
        """The deployed model's soft answers where it is right, for focal distillation (None: no teacher)."""

    def train(self, base_model: str | None, texts: list[str], targets: list[Any], labels: list[str], out_dir: str | Path, cfg: Any,
              progress: Any = None, teacher: Any = None, start: str | Path | None = None) -> dict:
        """Train a model of this kind (from `base_model`, or warm from `start`) into `out_dir`; its training summary
        ({"examples", "curve", "seconds", ...})."""

    def confusions(self, texts: list[str], truth: list[Any], pred: list[Any]) -> list[tuple]:
        """The most frequent (truth, answer, count) confusions, for the search's revisions."""

    def diagnose(self, records: list, parent: list, labels: list[str], model: str | Path, ws: Any, *, base_model: str,
                 regression_size: int, holdout_failures: float, seed: int, say: Callable[[str], None]) -> Diagnosis:
        """Score the deployed model on the logs, triage every line (poison, noise, fixable, trusted), hold out the
        evaluation splits, find the failure patterns."""

    chat_writes_examples: bool  # whether cold start may ask a chat teacher for examples when there is no data
    takes_paraphrases: bool  # whether a chat model's paraphrases of a failure may join its mixes

    def mix_maker(self, rd: Any, out: set[str], seed: int, paraphrases: list[dict]) -> Callable[[dict], tuple[list[dict], dict]]:
        """From the run's data (`tools.store.workspace.RunData`), a function making each configuration's training mix:
        `make(cand) -> (rows, composition)`, rows {"input", "output", "source", "ref"}; no row from the log ids `out`."""

    def first_strategies(self, diagnosis: dict, epochs: int, learning_rate: float) -> list[dict]:
        """Production's first configurations (warm starts and what else the kind needs)."""

    def revise_strategies(self, base: dict, gate: dict, max_flips: int, iteration: int) -> tuple[list[dict], str]:
        """Production's next configurations from the best attempt so far and what its gate result says went wrong."""

    first_attempts: tuple[tuple[str, dict], ...] | None  # cold start's first two (name, training settings); None: the search's

    def first_search(self, configs: list[dict], n_train: int) -> list[dict]:
        """Cold start's first configurations (the search's defaults in `configs`), adjusted to the kind (longer inputs,
        say) or replaced by the kind's own."""

    def revise_search(self, best: dict, iteration: int, confusions: list[tuple], tried: list[dict]) -> tuple[list[dict], str]:
        """Cold start's next configurations from the best attempt so far, none of them one of `tried` (the
        configurations trained so far); none at all when there is nothing left to try."""

    def evaluation_set(self, train: list[tuple], test: list[tuple], spec: dict, seed: int):
        """Cold start's evaluation, development and training splits (tools.coldstart.evalset.Split)."""

    def baseline(self, texts: list[str], train: list[tuple], labels: list[str], base_model: str) -> tuple[list[Any], str]:
        """An untrained baseline's answers on `texts`, and how they were made."""

    def probe(self, train: list[tuple], dev: list[tuple], base_model: str, seed: int) -> float | None:
        """The baseline survey's measure: a model fit without fine-tuning (a linear probe) scored on `dev`; None
        where the kind has none (the search then keeps the paper's target)."""

    default_base: str  # the embedded model the default base model ("minilm") names for this kind
    modes: tuple[str, ...]  # the modes that can run a task of this kind: "production", "cold_start"
    refits: bool  # whether a run refits its choice (cold start: on the training and dev splits; production: with the tuning split)

    def train_config(self, values: dict, seed: int) -> Any:
        """The kind's training configuration from a search configuration's `train` values."""

    def choose_metric(self, description: str, outputs: list[Any]) -> tuple[str, str]:
        """The task spec's metric for a task and its data's answers, and why (free text: the verifier)."""

    def judged(self, truth: list[Any], pred: list[Any]) -> list[bool]:
        """Each answer right or wrong, as the kind's metric judges it (a verifier, for free text)."""


_REGISTRY: dict[str, str] = {
    "classification": "tools.kinds.classification:Classification",
    "ner": "tools.kinds.entities:Entities",
    "generation": "tools.kinds.generation:Generation",  # last: it claims any text the others do not
}
_LOADED: dict[str, TaskKind] = {}
UNCLAIMED = "generation"  # the kind of an answer no registered kind claims: free text
# Kinds a task description or `--kind` may name before they can be trained: a run names them and refuses them
# with a clear reason ({"words", "metric_key", "min_labels"}). A kind's module and registration take its entry's place.
PLANNED: dict[str, dict] = {}


def register(name: str, target: str | type) -> None:
    """Add a kind: a "module:Class" path (imported on first use) or the class itself."""
    _REGISTRY[name] = target  # type: ignore[assignment]
    _LOADED.pop(name, None)


def names() -> list[str]:
    """The registered kinds: those a run can train."""
    return list(_REGISTRY)


def known() -> list[str]:
    """Every kind a task can name: the registered ones, then the planned ones."""
    return names() + [n for n in PLANNED if n not in _REGISTRY]


def naming(name: str) -> dict:
    """What cold start reads of a kind before it trains: {"words", "metric_key", "min_labels"}."""
    if name in _REGISTRY:
        k = get(name)
        return {"words": k.words, "metric_key": k.metric_key, "min_labels": k.min_labels}
    return PLANNED[name]


def get(name: str | None) -> TaskKind:
    """The kind called `name` (None: classification, as a state written before kinds had names says)."""
    name = name or "classification"
    if name not in _LOADED:
        _LOADED[name] = make(_REGISTRY, name, "task kind")
    return _LOADED[name]


def of_model(model_dir: str | Path) -> TaskKind:
    """The kind whose model `model_dir` is (classification when none claims it)."""
    for n in _REGISTRY:
        if n != "classification" and get(n).owns(model_dir):
            return get(n)
    return get("classification")
