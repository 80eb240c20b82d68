"""AdaptFT-Bench scenarios: declarative (task data, noise profile, seed) and built reproducibly.

Stage 0 is a clean deployment (a model trained on the parent data). Stages 1-3 bring about 500 new
requests each with poison rates 15%, 25% and 40%, split 70/30 into judged traffic (the logs) and a test
split; the union of all test splits, built up front and fixed, scores every checkpoint of every system.
Each traffic line records its noise (hidden from the system under test, used only to score triage).

Entity-extraction scenarios (task "ner") carry character spans as labels: fixable perturbations keep every
entity (they touch only the words around them), a wrong judgement retypes or drops an entity (the systematic
judge swaps two types), and poison asks for a made-up entity. A negation is not poison for entities.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tools.fixtures.simulate import INJECTIONS, OFF_TOPIC, corrupt_spans, gibberish, made_up_entity
from tools.kinds.spans import same_answer
from tools.production.perturb import casing, filler, perturb_spans, truncate, typo

POISON_RATES = (0.15, 0.25, 0.40)
FIXABLE_RATE = 0.25  # share of real requests that arrive perturbed (typos, casing...): the label stays right
POISON_KINDS = ("wrong_random", "wrong_systematic", "negation", "injection", "gibberish", "off_domain")
FIXABLE_KINDS = ("typo", "misspelling", "casing", "truncation", "preamble", "filler")
PREAMBLES = ["i have a question for you.", "sorry to bother you again, but", "good morning! so basically",
             "this is my third message today:", "as i said on the phone,"]
MISSPELL = {"receive": "recieve", "account": "acount", "transfer": "tranfser", "payment": "paymnet", "card": "crad",
            "please": "pls", "money": "mony", "because": "becuase", "what": "waht", "the": "teh", "you": "u",
            "movie": "moive", "music": "musik", "weather": "wether", "book": "bok", "restaurant": "resturant"}


@dataclass(frozen=True)
class Scenario:
    name: str
    data: str  # banking77, snips, trec, sst2, demo; mit_restaurant, wnut17, demo-ner (entities)
    n_labels: int | None = None  # a deterministic subset of the labels; None: all
    judge: str = "careless"  # careless: wrong corrections at random; systematic: mostly swaps one label pair
    drift: bool = False  # a new label appears from stage 2 on, and stage 3 brings new phrasings (more perturbed)
    note: str = ""
    task: str = "classification"  # or "ner": labels are span lists, scored by entity F1

    def poison_kinds(self) -> list[str]:
        """The poison the judge may let through (a negation is not poison for entities)."""
        return [k for k in POISON_KINDS if k != "wrong_systematic" and not (self.task == "ner" and k == "negation")]


SCENARIOS = {s.name: s for s in [
    Scenario("banking77", "banking77", n_labels=20, note="intent classification"),
    Scenario("snips", "snips", note="intent classification"),
    Scenario("trec", "trec", note="question type"),
    Scenario("sst2", "sst2", note="sentiment"),
    Scenario("systematic-judge", "banking77", n_labels=20, judge="systematic", note="a judge that confuses two labels"),
    Scenario("drift", "snips", drift=True, note="a new label from stage 2, new phrasings in stage 3"),
    Scenario("mit-restaurant", "mit_restaurant", task="ner", note="entity extraction (restaurant search slots)"),
    Scenario("demo", "demo", note="embedded data (no download): the quick check"),
    Scenario("demo-ner", "demo-ner", task="ner", note="embedded entity data (no download): the quick check"),
]}
DEFAULT = [n for n in SCENARIOS if not n.startswith("demo")]


@dataclass(frozen=True)
class Size:
    parent_per_label: int
    stage_requests: int  # new requests per stage, before the 70/30 split


FULL, QUICK = Size(parent_per_label=12, stage_requests=500), Size(parent_per_label=4, stage_requests=60)


# ------------------------------------------------------------------ data


def load_rows(data: str, data_dir: str | None) -> list[tuple[str, Any]]:
    """(text, label) rows of a benchmark's training split; (text, spans) for entity data."""
    if data == "demo":
        from tools.fixtures.demo import generate

        return generate(80, (0, 1, 2), random.Random(1234))
    if data == "demo-ner":
        from tools.fixtures.demo import entity_sentence

        rng = random.Random(1234)
        return [entity_sentence(rng) for _ in range(1500)]
    if data in ("mit_restaurant", "wnut17"):
        from evals.datasets import entity_sentences

        return entity_sentences(data, "train", data_dir)
    from evals.datasets import data_dir as root

    d = root(data_dir)
    if data == "banking77":
        from evals.datasets import banking77

        return banking77("train", data_dir)
    if data == "snips":
        base = d / "snips" / "data" / "snips" / "train"
        texts = (base / "seq.in").read_text(encoding="utf-8").splitlines()
        labels = (base / "label").read_text(encoding="utf-8").splitlines()
        return [(t.strip(), l.strip()) for t, l in zip(texts, labels)]
    if data == "trec":
        lines = (d / "trec" / "data" / "raw" / "TREC.train").read_bytes().decode("latin-1").splitlines()
        return [(l.split(" ", 1)[1].strip(), l.split(":", 1)[0]) for l in lines if " " in l]
    if data == "sst2":
        lines = (d / "sst2" / "data" / "stsa.binary.train").read_text(encoding="utf-8").splitlines()
        return [(l[2:].strip(), {"0": "negative", "1": "positive"}[l[0]]) for l in lines if l[:1] in "01"]
    raise ValueError(f"unknown data {data!r}")


# The off-domain poison of each task comes from another benchmark whose text is far from the task's domain
# (a fixed list of everyday questions was in-domain for TREC, and partly for SNIPS: weather, books).
OFF_DOMAIN_SOURCE = {"banking77": "mit_restaurant", "snips": "gsm8k", "trec": "sst2", "sst2": "gsm8k", "mit_restaurant": "gsm8k",
                     "wnut17": "gsm8k"}


def off_domain_texts(data: str, data_dir: str | None, rng: random.Random, n: int = 300) -> list[str]:
    """A deterministic sample of `n` texts from the task's off-domain source (the demo keeps its own list)."""
    source = OFF_DOMAIN_SOURCE.get(data)
    if source is None:
        return list(OFF_TOPIC)
    from evals import datasets as ds

    if source == "sst2":
        texts = [t for t, _ in load_rows("sst2", data_dir)]
    else:
        texts = {"gsm8k": ds.gsm8k_openings, "mit_restaurant": ds.mit_restaurant_queries}[source](data_dir)
    texts = sorted({t for t in texts if len(t.split()) >= 3})
    return rng.sample(texts, min(n, len(texts)))


# ------------------------------------------------------------------ noise


def misspell(text: str, rng: random.Random) -> str:
    words = text.split()
    hits = [i for i, w in enumerate(words) if w.lower() in MISSPELL]
    if not hits:
        return typo(text, rng)
    for i in hits:
        words[i] = MISSPELL[words[i].lower()]
    return " ".join(words)


def negate(text: str, rng: random.Random) -> str:
    """A negation or false premise that changes the meaning while the old label is kept."""
    for pat, rep in ((r"\b(can|could|will|would|did|do|does|is|are|was|have|has)\b", r"\1 not"), (r"\bi\b", "i never")):
        out, n = re.subn(pat, rep, text, count=1, flags=re.I)
        if n:
            return out
    return rng.choice(["it is not true that ", "i never said that ", "assuming it was never the case that "]) + text


FIXABLE = {"typo": typo, "misspelling": misspell, "casing": casing, "truncation": truncate,
           "preamble": lambda t, r: f"{r.choice(PREAMBLES)} {t}", "filler": filler}


def fix_noise(text: str, label: Any, rng: random.Random) -> tuple[str, Any, str]:
    """A fixable perturbation: (text, label, kind); the label stays right (spans move with their words)."""
    kind = rng.choice(FIXABLE_KINDS)
    if isinstance(label, list):
        out, spans = perturb_spans(kind, text, label, rng, MISSPELL, PREAMBLES)
        if out == text:
            out, spans = perturb_spans("preamble", text, label, rng, MISSPELL, PREAMBLES)
            kind = "preamble"
        return out, spans, kind
    out = FIXABLE[kind](text, rng)
    return (out, label, kind) if out != text else (f"{rng.choice(PREAMBLES)} {text}", label, "preamble")


# ------------------------------------------------------------------ build


def _split_labels(scn: Scenario, rows: list[tuple[str, str]], size: Size, rng: random.Random):
    """Classification: a subset of the labels, `parent_per_label` parent texts each, the rest as the pool."""
    by: dict[str, list[str]] = {}
    seen: set[str] = set()
    for t, l in rows:  # each text once: a test input never reappears in the traffic
        if t.lower() not in seen:
            seen.add(t.lower())
            by.setdefault(l, []).append(t)
    labels = sorted(by)
    if scn.n_labels and scn.n_labels < len(labels):
        labels = sorted(rng.sample(labels, scn.n_labels))
    for l in labels:
        rng.shuffle(by[l])
    new_label = labels[-1] if scn.drift else None
    parent = [(t, l) for l in labels if l != new_label for t in by[l][: size.parent_per_label]]
    pool = [(t, l) for l in labels for t in by[l][size.parent_per_label:]]
    rng.shuffle(pool)
    return parent, pool, labels, new_label


def _split_spans(scn: Scenario, rows: list[tuple[str, list[dict]]], size: Size, rng: random.Random):
    """Entities: every type; `parent_per_label` sentences per type (at least 8 types' worth) as the parent data."""
    from tools.kinds.spans import types_of

    unique, seen = [], set()
    for t, sp in rows:  # each text once: a test input never reappears in the traffic
        if t.lower() not in seen:
            seen.add(t.lower())
            unique.append((t, sp))
    rng.shuffle(unique)
    labels = types_of([sp for _, sp in unique])
    n = size.parent_per_label * max(8, len(labels))
    return unique[:n], unique[n:], labels, None


def _has_pair(label, pair: list[str]) -> bool:
    return any(s["label"] in pair for s in label) if isinstance(label, list) else label in pair


def build(scn: Scenario, out: Path, seed: int = 0, size: Size = FULL, data_dir: str | None = None) -> dict:
    """Write the scenario under `out`: parent.jsonl, stage{1,2,3}/traffic.jsonl (with the hidden noise),
    union_test.jsonl and scenario.json. The same seed gives the same files, byte for byte."""
    from tools.store.data import write_json, write_jsonl

    rng = random.Random(seed)
    rows = load_rows(scn.data, data_dir)
    parent, pool, labels, new_label = (_split_spans if scn.task == "ner" else _split_labels)(scn, rows, size, rng)
    pair = labels[:2]  # the systematic judge swaps these two
    off_domain = off_domain_texts(scn.data, data_dir, rng)
    stages, tests = [], []
    for k, rate in enumerate(POISON_RATES, start=1):
        chunk = [r for r in pool if not (new_label and k == 1 and r[1] == new_label)][: size.stage_requests]
        taken = {id(r) for r in chunk}
        pool = [r for r in pool if id(r) not in taken]
        n_test = int(round(len(chunk) * 0.3))
        test_rows, log_rows = chunk[:n_test], chunk[n_test:]
        fixable_rate = 0.6 if (scn.drift and k == 3) else FIXABLE_RATE
        for t, l in test_rows:
            x, y, kind = fix_noise(t, l, rng) if rng.random() < fixable_rate else (t, l, None)
            tests.append({"input": x, "output": y, "stage": k, "noise": kind})
        traffic = []
        for i, (t, l) in enumerate(log_rows):
            line = {"id": f"s{k}-{i:04d}", "input": t, "truth": l, "judge": l, "noise": None, "poison": False}
            if scn.judge == "systematic" and _has_pair(l, pair):  # this judge always swaps the pair
                line.update(poison=True, noise="wrong_systematic", **_poison("wrong_systematic", t, l, labels, pair, off_domain, rng))
            elif rng.random() < rate:
                kind = rng.choice(scn.poison_kinds())
                line.update(poison=True, noise=kind, **_poison(kind, t, l, labels, pair, off_domain, rng))
            elif rng.random() < fixable_rate:
                line["input"], line["truth"], line["noise"] = fix_noise(t, l, rng)
                line["judge"] = line["truth"]
            traffic.append(line)
        write_jsonl(out / f"stage{k}" / "traffic.jsonl", traffic)
        stages.append({"stage": k, "poison_rate": rate, "logs": len(traffic), "test": len(test_rows),
                       "poisoned": sum(t["poison"] for t in traffic)})
    write_jsonl(out / "parent.jsonl", [{"input": t, "output": l} for t, l in parent])
    write_jsonl(out / "union_test.jsonl", tests)
    info = {"scenario": asdict(scn), "seed": seed, "size": asdict(size), "labels": labels, "new_label": new_label,
            "systematic_pair": pair if scn.judge == "systematic" else None, "parent": len(parent), "stages": stages,
            "union_test": len(tests)}
    write_json(out / "scenario.json", info)
    return info


def _poison(kind: str, text: str, truth: Any, labels: list[str], pair: list[str], off_domain: list[str], rng: random.Random) -> dict:
    """The poisoned input and the label the judge gives it (for entities: wrong spans, or a made-up entity)."""
    if isinstance(truth, list):
        return _poison_spans(kind, text, truth, labels, pair, off_domain, rng)
    other = rng.choice([l for l in labels if l != truth])
    if kind == "wrong_random":
        return {"judge": other}
    if kind == "wrong_systematic":
        return {"judge": pair[1] if truth == pair[0] else pair[0]}
    if kind == "negation":
        return {"input": negate(text, rng)}  # the old label kept
    if kind == "injection":
        return {"input": rng.choice(INJECTIONS).format(text=text, label=other), "judge": other}
    if kind == "gibberish":
        return {"input": gibberish(rng), "judge": other}
    if kind == "off_domain":
        return {"input": rng.choice(off_domain), "judge": other}
    raise ValueError(kind)


def _poison_spans(kind: str, text: str, spans: list[dict], types: list[str], pair: list[str], off_domain: list[str],
                  rng: random.Random) -> dict:
    if kind == "wrong_random":
        return {"judge": corrupt_spans(text, spans, types, rng) if spans else made_up_entity(text, types, rng)}
    if kind == "wrong_systematic":
        swap = {pair[0]: pair[1], pair[1]: pair[0]}
        return {"judge": [{**s, "label": swap.get(s["label"], s["label"])} for s in spans]}
    x = {"injection": lambda: rng.choice(INJECTIONS).format(text=text, label=rng.choice(types)),
         "gibberish": lambda: gibberish(rng), "off_domain": lambda: rng.choice(off_domain)}[kind]()
    return {"input": x, "judge": made_up_entity(x, types, rng)}


def render_logs(traffic: list[dict], predictions: list[str]) -> tuple[list[dict], dict[str, dict]]:
    """The logs a system's deployed model would have written for this traffic (its predictions, the judge's
    verdicts and corrections), and the answer key of each line's noise."""
    logs, key = [], {}
    for t, p in zip(traffic, predictions):
        line = {"id": t["id"], "input": t["input"], "prediction": p, "verdict": "pass" if same_answer(p, t["judge"]) else "fail"}
        if line["verdict"] == "fail":
            line["correction"] = t["judge"]
        logs.append(line)
        key[t["id"]] = {"noise": t["noise"] if t["poison"] else None}
    return logs, key
