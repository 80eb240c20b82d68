"""A promoted model's lineage: the curated data it came from, kept beside its weights.

The paper's step "check the parent model": a retrain replays the parent data of the model it replaces.
When pioneer promotes a model it writes `parent_data.jsonl` into the model folder: the data it was given
as the deployed model's parent data plus the log lines it trusted (passes with their prediction, fixable
failures with their correction). Augmentations, poison and noise are not in it. The next production run
on that model uses it as its parent data when none is given, so what one generation learned from its
logs is not forgotten by the next, which retrains from the base model.
"""

from __future__ import annotations

from pathlib import Path

from tools.store.data import Example, LogRecord

PARENT_FILE = "parent_data.jsonl"


def curated_examples(parent: list[Example], records: list[LogRecord], categories: dict[str, str]) -> list[dict]:
    """Parent rows, then the trusted and fixable log lines with the label they assert; one row per input."""
    rows, seen = [], set()
    logged = [(r.input, r.label) for r in records if categories.get(r.id) in ("trusted", "fixable")]
    for text, label in [(e.input, e.output) for e in parent] + logged:
        key = " ".join(text.lower().split())
        if key not in seen:
            seen.add(key)
            rows.append({"input": text, "output": label})
    return rows


def parent_data_of(model_dir: str | Path) -> Path | None:
    """The lineage file of a pioneer-promoted model, if it has one."""
    p = Path(model_dir) / PARENT_FILE
    return p if p.is_file() else None
