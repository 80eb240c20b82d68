"""Data sources for cold-start mode: a user's files or folders, read into labelled examples with their splits.

Formats recognised (the common shapes public datasets ship in):
- JSONL, CSV or Parquet records: the contract's `input`/`output`, or usual column names (text, sentence, utterance,
  query, question / label, category, intent, class);
- aligned files, ATIS/SNIPS style: `seq.in` (one input a line) beside `label` (one label a line);
- label-first lines, TREC/SST style: `LABEL text ...` (the first token is the label, from a small set);
- CoNLL columns: one token a line with its BIO tag (token first or tag first), blank lines between sentences:
  read as entity spans (character offsets), for entity extraction.

A folder is searched for such files; a file's split (train, validation, test) comes from its name or its
folder's name. A card (SOURCE.md, README.md, CARD.md) next to the data describes it for ranking. Text that
is not UTF-8 is read as Latin-1 and the source says so. Anything unreadable raises DataError (file, line,
reason).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from tools import kinds
from tools.kinds.spans import from_tokens
from tools.store.data import INPUT_SHAPE, DataError, Example, input_text, json_object, task_of_outputs

INPUT_COLUMNS = ("input", "text", "sentence", "utterance", "query", "question", "content", "dialogue", "document", "article",
                 "prompt", "instruction", "messages")
OUTPUT_COLUMNS = ("output", "label", "category", "intent", "class", "labels", "tag", "summary", "answer", "response",
                  "completion", "target")
CARD_FILES = ("CARD.md", "SOURCE.md", "README.md", "card.md")
SPLIT_NAMES = {"train": "train", "training": "train", "dev": "validation", "valid": "validation",
               "validation": "validation", "val": "validation", "test": "test", "testing": "test"}
RECORD_SUFFIXES = {".jsonl", ".csv", ".parquet"}
CONLL_SUFFIXES = {".conll", ".bio", ".iob", ".iob2", ".conllu"}
SKIP_NAMES = {"license", "readme", "notice", "changelog"}


@dataclass
class Source:
    name: str
    path: str
    format: str  # jsonl | csv | aligned | label_first | conll
    splits: dict[str, list[Example]]  # train / validation / test / all
    card: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def examples(self) -> list[Example]:
        return [e for rows in self.splits.values() for e in rows]

    @property
    def kind(self) -> str:
        return task_of_outputs([e.output for e in self.examples[:50]])

    @property
    def labels(self) -> list[str]:
        if self.kind not in kinds.names():
            return []
        kind = kinds.get(self.kind)
        return sorted({l for e in self.examples if e.output for l in kind.labels_of(e.output)})  # no label in an empty answer

    def summary(self) -> dict:
        return {"name": self.name, "path": self.path, "format": self.format, "kind": self.kind,
                "splits": {k: len(v) for k, v in self.splits.items()}, "labels": len(self.labels), "notes": self.notes}


def load_source(path: str | Path) -> Source:
    """Read a file or a folder of data files into one Source."""
    p = Path(path)
    if not p.exists():
        raise DataError(p, 0, "no such file or folder")
    if p.is_file():
        fmt, rows, notes = _read_file(p)
        return Source(p.stem, str(p), fmt, {_split_of(p): rows}, card=_card(p.parent), notes=notes)
    splits: dict[str, list[Example]] = {}
    fmts, notes = set(), []
    for f, fmt, rows, n in _read_folder(p):
        splits.setdefault(_split_of(f), []).extend(rows)
        fmts.add(fmt)
        notes += [f"{f.relative_to(p)}: {x}" for x in n]
    if not splits:
        raise DataError(p, 0, "no data files found (looked for .jsonl, .csv, CoNLL columns, seq.in + label, "
                              "and label-first text lines)")
    card = _card(p)
    _name_class_labels(splits, card)
    return Source(p.name, str(p), "+".join(sorted(fmts)), splits, card=card, notes=notes)


def _name_class_labels(splits: dict[str, list[Example]], card: str) -> None:
    """Integer labels (the hub's ClassLabel columns) get their names from the card's `names:` list."""
    rows = [e for v in splits.values() for e in v]
    if not rows or not all(isinstance(e.output, int) and not isinstance(e.output, bool) for e in rows):
        return
    names = dict(re.findall(r"^\s*'?(\d+)'?\s*:\s*(\S.*?)\s*$", card.split("names:", 1)[1], re.M)) if "names:" in card else {}
    for e in rows:
        e.output = names.get(str(e.output), str(e.output)).strip("'\"")


def _split_of(f: Path) -> str:
    """train / validation / test from the file's name, suffix or folder; `all` when none says."""
    parts = [f.stem.lower(), f.suffix.lower().lstrip("."), f.parent.name.lower()]
    for part in parts:
        for tok in re.split(r"[^a-z]+", part):
            if tok in SPLIT_NAMES:
                return SPLIT_NAMES[tok]
    for name in sorted(SPLIT_NAMES, key=len, reverse=True):  # glued names: restauranttrain.bio
        if len(name) >= 4 and (parts[0].endswith(name) or parts[0].startswith(name)):
            return SPLIT_NAMES[name]
    return "all"


def _card(folder: Path) -> str:
    for d in (folder, folder.parent):
        for name in CARD_FILES:
            if (d / name).is_file():
                return (d / name).read_text(encoding="utf-8", errors="replace")[:4000]
    return ""


def _read_folder(root: Path):
    """(file, format, examples, notes) for every data file under `root`."""
    files = sorted(f for f in root.rglob("*") if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts))
    seen = set()
    for f in files:
        if f in seen:
            continue
        if f.name == "seq.in" and (f.parent / "label").exists():  # aligned files
            seen |= {f, f.parent / "label", f.parent / "seq.out"}
            yield f.parent / "label", "aligned", *_aligned(f, f.parent / "label")
            continue
        if f.stem.lower() in SKIP_NAMES or f.name in CARD_FILES or f.suffix.lower() in {".md", ".json", ".py", ".txt.gz", ".zip"}:
            continue
        if f.name in {"label", "seq.out"}:
            continue
        try:
            fmt, rows, notes = _read_file(f)
        except DataError:
            if f.suffix.lower() in RECORD_SUFFIXES | CONLL_SUFFIXES:
                raise  # a data file by its name that does not read is the user's to fix
            continue  # some other file in the folder (a license, a script's output)
        yield f, fmt, rows, notes


def _text(f: Path) -> tuple[list[str], list[str]]:
    raw = f.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not data
    try:
        return raw.decode("utf-8").splitlines(), []
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return raw.decode("latin-1").splitlines(), [f"not UTF-8 (line {line}); read as Latin-1"]


def _read_file(f: Path) -> tuple[str, list[Example], list[str]]:
    suffix = f.suffix.lower()
    if suffix == ".parquet":  # the hub's usual format
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(f).to_pylist()
        except Exception as e:  # noqa: BLE001 - pyarrow's errors vary; the user needs the file and why
            raise DataError(f, 0, f"not a readable Parquet file ({type(e).__name__}: {e})") from None
        return "parquet", _records(f, [(i + 1, r) for i, r in enumerate(rows)]), []
    lines, notes = _text(f)
    if suffix == ".jsonl":
        return "jsonl", _records(f, [(n, json_object(f, n, t)) for n, t in enumerate(lines, 1) if t.strip()]), notes
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
        return "csv", _records(f, [(i + 2, r) for i, r in enumerate(rows)]), notes
    if suffix in CONLL_SUFFIXES or _looks_conll(lines):
        return "conll", _conll(f, lines), notes
    rows = _label_first(f, lines)
    if rows is None:
        raise DataError(f, 0, "not a recognised data format (JSONL, CSV, CoNLL columns, seq.in + label, label-first lines)")
    return "label_first", rows, notes


def _records(f: Path, objs: list[tuple[int, dict]]) -> list[Example]:
    if not objs:
        raise DataError(f, 0, "empty file: no records")
    keys = {k.lower(): k for k in objs[0][1]}
    src_in = next((keys[c] for c in INPUT_COLUMNS if c in keys), None)
    src_out = next((keys[c] for c in OUTPUT_COLUMNS if c in keys), None)
    refs = _numbered(keys) if src_out is None else []
    if refs:  # summary1, summary2, ...: several right answers (DialogSum's test split), kept as a list
        src_out = refs[0]
    if src_in is None or src_out is None:
        raise DataError(f, objs[0][0], f"no input/output columns: found {sorted(objs[0][1])}; expected one of "
                                       f"{list(INPUT_COLUMNS)} and one of {list(OUTPUT_COLUMNS)}")
    out = []
    for n, o in objs:
        x = input_text(o.get(src_in))
        y = [str(o[k]).strip() for k in refs if o.get(k)] if refs else o.get(src_out)
        if x is None:
            raise DataError(f, n, f"field '{src_in}' must be {INPUT_SHAPE}")
        if y is None or y == "" or y == []:
            raise DataError(f, n, f"field '{src_out}' is empty")
        out.append(Example(x.strip(), y.strip() if isinstance(y, str) else y, n))
    return out


def _numbered(keys: dict[str, str]) -> list[str]:
    """Numbered output columns (summary1, summary2, ...: one right answer each), in order; [] when there are none."""
    for base in OUTPUT_COLUMNS:
        found = sorted((int(m.group(1)), k) for low, k in keys.items() if (m := re.fullmatch(re.escape(base) + r"_?(\d+)", low)))
        if found:
            return [k for _, k in found]
    return []


def _aligned(seq_in: Path, label: Path) -> tuple[list[Example], list[str]]:
    xs, n1 = _text(seq_in)
    ys, n2 = _text(label)
    if len(xs) != len(ys):
        raise DataError(label, 0, f"{len(ys)} labels for {len(xs)} inputs in {seq_in.name}: the files must be line-aligned")
    return [Example(x.strip(), y.strip(), i) for i, (x, y) in enumerate(zip(xs, ys), 1) if x.strip()], n1 + n2


def _label_first(f: Path, lines: list[str]) -> list[Example] | None:
    """`LABEL text` lines, when the first tokens form a small set of repeated labels; None otherwise."""
    rows = [(n, t.split(None, 1)) for n, t in enumerate(lines, 1) if t.strip()]
    if len(rows) < 10 or any(len(parts) < 2 for _, parts in rows):
        return None
    heads = {parts[0] for _, parts in rows}
    if len(heads) > min(200, 0.2 * len(rows)):
        return None
    return [Example(parts[1].strip(), parts[0], n) for n, parts in rows]


def _looks_conll(lines: list[str]) -> bool:
    body = [l for l in lines[:200] if l.strip()]
    if len(body) < 5 or not any(not l.strip() for l in lines[:400]):
        return False
    tagged = sum(1 for l in body if len(l.split()) == 2 and _is_tag(l.split()[0]) != _is_tag(l.split()[1]))
    return tagged / len(body) > 0.9


def _is_tag(tok: str) -> bool:
    return tok == "O" or bool(re.fullmatch(r"[BIES]-\S+", tok))


def _conll(f: Path, lines: list[str]) -> list[Example]:
    """Sentences of (token, BIO tag) lines as text plus character-offset entity spans."""
    first = next(l for l in lines if l.strip()).split()
    tag_first = _is_tag(first[0]) and not _is_tag(first[-1])
    out, toks, start_line = [], [], 0
    for n, line in enumerate(lines + [""], 1):
        if not line.strip():
            if toks:
                out.append(_spans(toks, start_line))
            toks = []
            continue
        parts = line.split()
        if len(parts) < 2:
            raise DataError(f, n, f"expected a token and a tag, got {line.strip()[:40]!r}")
        tok, tag = (parts[-1], parts[0]) if tag_first else (parts[0], parts[-1])
        if not _is_tag(tag):
            raise DataError(f, n, f"not a BIO tag: {tag!r}")
        if not toks:
            start_line = n
        toks.append((tok, tag))
    if not out:
        raise DataError(f, 0, "empty file: no sentences")
    return out


def _spans(toks: list[tuple[str, str]], line: int) -> Example:
    text, spans = from_tokens(toks)
    return Example(text, spans, line)
