"""Examples and inference logs: loading, validation, and the errors a user can act on.

Formats are fixed by the public contract: JSONL (one object a line) or CSV with the same columns.
Every bad line is reported with file, line number and reason; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

VERDICTS = ("pass", "fail")


class DataError(ValueError):
    """Bad input: carries the file, the 1-based line (0 when it is about the whole file) and the reason."""

    def __init__(self, path: str | Path, line: int, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {reason}")


@dataclass
class Example:
    input: str
    output: Any
    line: int = 0


@dataclass
class LogRecord:
    id: str
    input: str
    prediction: Any
    verdict: str
    correction: Any = None
    feedback: str | None = None
    line: int = 0
    extra: dict = field(default_factory=dict)  # timestamp, metadata: kept, never required

    @property
    def label(self) -> Any:
        """The answer the log asserts: the prediction when it passed, the correction when it failed."""
        return self.prediction if self.verdict == "pass" else self.correction


def input_text(value: Any) -> str | None:
    """An input as the run keeps it: a non-empty string, or a list of chat messages ({"role", "content"}, for
    generation) as its JSON text (tools.models.causal.messages reads it back); None when it is neither."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list) and value and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                 and isinstance(m.get("content"), str) for m in value):
        return json.dumps([{"role": m["role"], "content": m["content"]} for m in value], ensure_ascii=False)
    return None


INPUT_SHAPE = "a non-empty string or a list of chat messages ({\"role\", \"content\"})"


def task_of(output: Any) -> str:
    """The task kind implied by the shape of an output: the first registered kind that claims it, else free text."""
    from tools import kinds

    return next((n for n in kinds.names() if kinds.get(n).claims(output)), kinds.UNCLAIMED)


def task_of_outputs(outputs: list[Any]) -> str:
    """The kind of a file's outputs, read off its first 50: their one kind, else free text (mixed shapes)."""
    from tools import kinds

    found = {task_of(o) for o in outputs[:50]}
    return found.pop() if len(found) == 1 else kinds.UNCLAIMED


def _check_output(value: Any, task: str | None, what: str, text: str = "") -> str | None:
    """Return a reason when `value` is not a valid output for `task` on input `text` (None when it is)."""
    from tools import kinds

    if task in kinds.names():
        return kinds.get(task).check_output(value, text, what)
    if value is None or value == "":
        return f"{what} is empty"
    return None


def _output(value: Any, task: str | None) -> Any:
    """An output as the rest of the run compares it (entity spans in their canonical order and keys)."""
    from tools import kinds

    return kinds.get(task).canonical(value) if task in kinds.names() else value


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Lines of a UTF-8 file as (1-based number, text); a line that is not UTF-8 raises DataError."""
    if not path.exists():
        raise DataError(path, 0, "no such file")
    if path.is_dir():
        raise DataError(path, 0, "is a folder, expected a .jsonl or .csv file")
    out = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(path, n, f"not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None
            if n == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark, as some editors write it, is not data
            out.append((n, text.rstrip("\r\n")))
    return out


def _objects(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for each record of a JSONL or CSV file."""
    lines = _read_lines(path)
    if path.suffix.lower() == ".csv":
        text = "\n".join(t for _, t in lines)
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise DataError(path, 0, "empty file: no rows after the header")
        return [(i + 2, dict(r)) for i, r in enumerate(rows)]
    objs = []
    for n, text in lines:
        if not text.strip():
            continue
        objs.append((n, json_object(path, n, text)))
    if not objs:
        raise DataError(path, 0, "empty file: no records")
    return objs


def load_examples(path: str | Path, task: str | None = "classification") -> list[Example]:
    """Training or evaluation examples: `{"input": ..., "output": ...}` per line."""
    path = Path(path)
    out = []
    for n, obj in _objects(path):
        for key in ("input", "output"):
            if key not in obj:
                raise DataError(path, n, f"missing field '{key}'")
        text = input_text(obj["input"])
        if text is None:
            raise DataError(path, n, f"field 'input' must be {INPUT_SHAPE}")
        reason = _check_output(obj["output"], task, "field 'output'", text)
        if reason:
            raise DataError(path, n, reason)
        out.append(Example(text, _output(obj["output"], task), n))
    return out


@dataclass
class LoadedLogs:
    records: list[LogRecord]
    skipped: list[DataError]  # bad lines, only when the user asked to skip them
    task: str | None = None  # the task the outputs were checked against


def load_logs(path: str | Path, task: str | None = "classification", skip_bad: bool = False) -> LoadedLogs:
    """Inference logs, validated line by line against the contract.

    `task` "detect": the task the predictions' shape implies, then every line checked against it (one read).
    A bad line raises DataError unless `skip_bad`, in which case it is counted in `skipped`.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise DataError(path, 0, "inference logs must be JSONL (one JSON object a line)")
    lines = _read_lines(path)
    if not any(t.strip() for _, t in lines):
        raise DataError(path, 0, "empty file: no log lines")
    skipped: list[DataError] = []

    def each(items, check):
        out = []
        for item in items:
            try:
                out.append(check(item))
            except DataError as e:
                if not skip_bad:
                    raise
                skipped.append(e)
        return out

    seen: dict[str, int] = {}

    def parse(line: tuple[int, str]) -> LogRecord:
        n, text = line
        rec = _parse_log_line(path, n, text)
        if rec.id in seen:
            raise DataError(path, n, f"duplicate id {rec.id!r} (first on line {seen[rec.id]})")
        seen[rec.id] = n
        return rec

    records = each([x for x in lines if x[1].strip()], parse)
    if task == "detect" and records:
        task = detect_task(records)
    if task is not None:
        records = each(records, lambda r: _typed(path, r, task))
    if not records:
        raise DataError(path, 0, f"no valid log lines ({len(skipped)} bad)")
    return LoadedLogs(records, skipped, task)


def json_object(path: Path, n: int, text: str) -> dict:
    """One JSONL line as an object, or DataError naming the line."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, n, f"not valid JSON ({e.msg} at column {e.colno}); truncated line?") from None
    if not isinstance(obj, dict):
        raise DataError(path, n, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _parse_log_line(path: Path, n: int, text: str) -> LogRecord:
    """One log line's fields, checked for presence and type (outputs are checked against the task later)."""
    obj = json_object(path, n, text)
    for key in ("id", "input", "prediction", "verdict"):
        if key not in obj:
            raise DataError(path, n, f"missing field '{key}'")
    text = input_text(obj["input"]) if obj["input"] != "" else ""
    if text is None:
        raise DataError(path, n, f"field 'input' must be {INPUT_SHAPE}")
    verdict = obj["verdict"]
    if verdict not in VERDICTS:
        raise DataError(path, n, f"unknown verdict {json.dumps(verdict)[:40]} (expected 'pass' or 'fail')")
    known = {"id", "input", "prediction", "verdict", "correction", "feedback"}
    rec = LogRecord(id=str(obj["id"]), input=text, prediction=obj["prediction"], verdict=verdict,
                    correction=obj.get("correction"), feedback=obj.get("feedback"), line=n,
                    extra={k: v for k, v in obj.items() if k not in known})
    return _typed(path, rec, None)


def _typed(path: Path, r: LogRecord, task: str | None) -> LogRecord:
    """`r` with its prediction and correction checked against `task` and in the form the run compares."""
    for what, value in (("prediction", r.prediction), ("correction", r.correction)):
        if value is not None or what == "prediction":
            reason = _check_output(value, task, f"field '{what}'", r.input)
            if reason:
                raise DataError(path, r.line, reason)
    return replace(r, prediction=_output(r.prediction, task), correction=None if r.correction is None else _output(r.correction, task))


def detect_task(records: list[LogRecord]) -> str:
    return task_of_outputs([r.prediction for r in records])


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    """Write rows atomically: a crash never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


def read_jsonl(path: str | Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
