"""Readers for the public benchmark copies in ../shared/datasets (path configurable)."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path


def data_dir(path: str | None = None) -> Path:
    d = Path(path or os.environ.get("PIONEER_DATA_DIR") or Path(__file__).resolve().parents[1].parent / "shared" / "datasets")
    if not d.exists():
        raise SystemExit(f"benchmark data not found at {d}: pass --data-dir or set PIONEER_DATA_DIR")
    return d


def banking77(split: str, root: str | None = None) -> list[tuple[str, str]]:
    with (data_dir(root) / "banking77" / "banking_data" / f"{split}.csv").open(encoding="utf-8") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def trec_questions(root: str | None = None) -> list[str]:
    """TREC questions (Latin-1), used as off-domain text."""
    p = data_dir(root) / "trec" / "data" / "raw" / "TREC.test"
    lines = p.read_bytes().decode("latin-1").splitlines()
    return [l.split(" ", 1)[1].strip() for l in lines if " " in l]


def gsm8k_openings(root: str | None = None) -> list[str]:
    """The first sentence of each GSM8K training question (math word problems), used as off-domain text."""
    p = data_dir(root) / "gsm8k" / "grade_school_math" / "data" / "train.jsonl"
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        first = re.split(r"(?<=[.?!])\s", json.loads(line)["question"].strip(), maxsplit=1)[0]
        out.append(first)
    return out


def mit_restaurant_queries(root: str | None = None) -> list[str]:
    """Restaurant search queries rebuilt from the tag-first BIO training file, used as off-domain text."""
    p = data_dir(root) / "mit_restaurant" / "restauranttrain.bio"
    out, words = [], []
    for line in p.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if words:
                out.append(" ".join(words))
            words = []
        else:
            words.append(line.split("\t", 1)[1].strip())
    return out


ENTITY_FILES = {
    "mit_restaurant": {"train": ["restauranttrain.bio"], "test": ["restauranttest.bio", "restaurantvalid.bio"]},
    "wnut17": {"train": ["wnut17train.conll"], "dev": ["emerging.dev.conll"], "test": ["emerging.test.annotated"]},
}


def entity_sentences(dataset: str, split: str, root: str | None = None) -> list[tuple[str, list[dict]]]:
    """(text, character spans) of a CoNLL/BIO benchmark split (tokens joined by spaces). MIT Restaurant's test
    split is the original test file (the lesson's test plus valid parts, as its SOURCE.md says)."""
    from tools.coldstart.sources import load_source

    out = []
    for name in ENTITY_FILES[dataset][split]:
        out += [(e.input, e.output) for e in load_source(data_dir(root) / dataset / name).examples]
    return out


def restaurant_json(out: Path, root: str | None = None, n_train: int = 500, n_test: int = 500, seed: int = 0,
                    types: tuple[str, ...] | None = None) -> Path:
    """A structured-extraction task made from MIT Restaurant (text in, JSON out): each query's entities as a JSON
    object, one field a type (Cuisine, Location, Price, ...; a list when a type occurs twice); with `types`, only
    those fields, and only the queries that have one; written as `train.jsonl` and `test.jsonl` (the first `n_train`
    training and `n_test` test queries, shuffled by `seed`) under `out`, with a card. The bench's own derived copy:
    never committed."""
    import random

    from tools.coldstart.sources import load_source

    src = load_source(data_dir(root) / "mit_restaurant")
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for split, name, n in (("train", "train", n_train), ("test", "test", n_test)):
        rows = [e for e in src.splits[split] if types is None or any(s["label"] in types for s in e.output)]
        rng.shuffle(rows)
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for e in rows[:n]:
                fields: dict = {}
                for s in e.output:
                    if types is not None and s["label"] not in types:
                        continue
                    value = e.input[s["start"]:s["end"]]
                    old = fields.get(s["label"])
                    fields[s["label"]] = value if old is None else (old if isinstance(old, list) else [old]) + [value]
                fh.write(json.dumps({"input": e.input, "output": json.dumps(fields)}) + "\n")
    (out / "CARD.md").write_text("# Restaurant search queries to JSON fields\n\nDerived from MIT Restaurant (see its SOURCE.md).\n")
    return out


def banking30(out: Path, root: str | None = None, n_labels: int = 30, per_label: int = 100, seed: int = 0) -> Path:
    """An intent task shaped like issue 18's acceptance check (30 intents, 3,000 training examples) made from Banking77:
    `n_labels` intents drawn at random by `seed` (not picked by hand), `per_label` training messages of each, and all of
    their test messages, written as `train.jsonl` and `test.jsonl` under `out` with a card. The bench's own derived
    copy: never committed."""
    import random

    rng = random.Random(seed)
    train, test = banking77("train", root), banking77("test", root)
    labels = sorted(rng.sample(sorted({c for _, c in train}), n_labels))
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("test", test)):
        keep = [(t, c) for t, c in rows if c in labels]
        if name == "train":
            by_label = {c: [r for r in keep if r[1] == c] for c in labels}
            keep = [r for c in labels for r in rng.sample(by_label[c], min(per_label, len(by_label[c])))]
            rng.shuffle(keep)
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"input": t, "output": c}) + "\n" for t, c in keep)
    (out / "CARD.md").write_text(f"# Bank support messages by intent ({n_labels} intents)\n\nDerived from Banking77 (see its SOURCE.md).\n")
    return out


def snips_json(out: Path, root: str | None = None, n_train: int = 900, n_test: int = 300, seed: int = 0) -> Path:
    """A command-parsing task made from SNIPS (text in, JSON out): each utterance's intent and slots as one JSON object,
    `{"intent": "PlayMusic", "artist": "westbam", ...}` (a slot's words as the utterance spells them; a list when a slot
    occurs twice); written as `train.jsonl` and `test.jsonl` (the first `n_train` training and `n_test` test
    utterances, shuffled by `seed`) under `out`, with a card. The bench's own derived copy: never committed."""
    import random

    base = data_dir(root) / "snips" / "data" / "snips"
    out.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        texts, tags, intents = ((base / split / f).read_text(encoding="utf-8").splitlines() for f in ("seq.in", "seq.out", "label"))
        rows = []
        for text, tag, intent in zip(texts, tags, intents):
            words, bio = text.split(), tag.split()
            if len(words) != len(bio):
                raise ValueError(f"{base / split}: a line whose words and tags differ in number: {text!r}")
            fields: dict = {"intent": intent}
            spans: list[tuple[str, list[str]]] = []
            for w, t in zip(words, bio):
                if t.startswith("B-") or (t.startswith("I-") and (not spans or spans[-1][0] != t[2:])):
                    spans.append((t[2:], [w]))
                elif t.startswith("I-"):
                    spans[-1][1].append(w)
            for slot, ws in spans:
                old, value = fields.get(slot), " ".join(ws)
                fields[slot] = value if old is None else (old if isinstance(old, list) else [old]) + [value]
            rows.append({"input": " ".join(words), "output": json.dumps(fields)})
        random.Random(seed).shuffle(rows)
        (out / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:n]), encoding="utf-8")
    (out / "CARD.md").write_text("# Voice commands to JSON (intent and slots)\n\nDerived from SNIPS (see its SOURCE.md).\n")
    return out
