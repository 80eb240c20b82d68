"""The cold-start evaluation set: built before any training, then frozen.

- every label covered (a label with fewer than two examples cannot be both learned and tested: refused);
- boundary cases: for the most confusable label pairs (closest label centroids in MiniLM space), the
  examples nearest the other label are tagged, and preferred when the set is carved from the pool;
- negatives: examples of an out-of-scope label ("oos", "other", ...), when the task has one;
- never trained on: its inputs (and exact copies) leave the training pool;
- frozen: written once with its SHA-256; a resumed run checks the hash and refuses a changed file.

The sources' own test split is used when there is one (so results compare with published numbers);
otherwise a stratified share of the pool is carved out. A development split for model selection is
carved from what remains, so the search never looks at the evaluation set, and made like it (the same share
of boundary cases, the label proportions and so the negatives' share), so that the search selects and stops
on what the evaluation set measures: a random dev split is easier than a set half of boundary cases (an
unseen intent task: 0.983 on a random dev split, 0.931 on the evaluation set).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.store.data import DataError, read_jsonl, write_json, write_jsonl

Row = tuple[str, str, str]  # input, label, source


@dataclass
class Splits:
    eval: list[dict]  # {"input", "output", "source", "tags"}
    dev: list[Row]
    train: list[Row]
    makeup: dict


def confusable_pairs(emb: np.ndarray, labels: list[str], n: int = 10) -> list[tuple[str, str, float]]:
    """The `n` label pairs whose centroids are closest (cosine)."""
    names = sorted(set(labels))
    if len(names) < 2:
        return []
    lab = np.array(labels)
    cent = np.stack([emb[lab == l].mean(0) for l in names])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True) + 1e-9
    sims = cent @ cent.T
    pairs = [(names[i], names[j], float(sims[i, j])) for i in range(len(names)) for j in range(i + 1, len(names))]
    return sorted(pairs, key=lambda p: -p[2])[:n]


def boundary_margin(emb: np.ndarray, labels: list[str], pairs: list[tuple[str, str, float]], ref_emb: np.ndarray,
                    ref_labels: list[str]) -> np.ndarray:
    """For each row, how much closer it is to its own label's centroid than to its confusable partner's
    (+inf for labels in no pair). Centroids come from the reference rows (the training pool)."""
    lab = np.array(ref_labels)
    cent = {l: ref_emb[lab == l].mean(0) for l in set(ref_labels)}
    partners = defaultdict(list)
    for a, b, _ in pairs:
        partners[a].append(b)
        partners[b].append(a)
    out = np.full(len(labels), np.inf, dtype=np.float32)
    for i, l in enumerate(labels):
        if l in partners and l in cent:
            own = float(emb[i] @ cent[l])
            out[i] = min(own - float(emb[i] @ cent[p]) for p in partners[l] if p in cent)
    return out


def build(pool_train: list[Row], pool_test: list[Row], labels: list[str], out_of_scope: list[str], *,
          eval_share: float = 0.15, max_eval: int = 4000, dev_share: float = 0.1, max_dev: int = 1000,
          seed: int = 0, embed_fn=None) -> Splits:
    """Evaluation, development and training splits of a classification pool."""
    if embed_fn is None:
        from tools.models.embed import embed as embed_fn
    rng = random.Random(seed)
    counts = Counter(l for _, l, _ in pool_train + pool_test)
    short = sorted(l for l in labels if counts[l] < 2)
    if short:
        raise DataError("--data", 0, f"labels with fewer than two examples cannot be learned and tested: {short[:10]}"
                                     f"{' ...' if len(short) > 10 else ''}; add examples or drop them from --labels")
    train_emb = embed_fn([r[0] for r in pool_train])
    pairs = confusable_pairs(train_emb, [r[1] for r in pool_train])
    pool_margin = boundary_margin(train_emb, [r[1] for r in pool_train], pairs, train_emb, [r[1] for r in pool_train])
    if pool_test:
        ev = _stratified(pool_test, min(max_eval, len(pool_test)), rng)
        missing = sorted(set(labels) - {r[1] for r in ev})
        if missing:  # the test split lacks some labels: carve those from the pool
            extra = [r for r in pool_train if r[1] in missing]
            ev += _stratified(extra, max(2 * len(missing), int(eval_share * len(extra))), rng, min_each=1)
        origin = "the sources' test split"
    else:
        ev = _carve(pool_train, pool_margin, min(max_eval, int(round(eval_share * len(pool_train)))), rng)
        origin = f"{eval_share:.0%} of the pool, stratified by label"
    taken = {" ".join(r[0].lower().split()) for r in ev}
    keep = [i for i, r in enumerate(pool_train) if " ".join(r[0].lower().split()) not in taken]
    rest = [pool_train[i] for i in keep]
    n_dev = min(max_dev, int(round(dev_share * len(rest))))
    if pool_test:  # the evaluation set is a sample of the sources' test split: so is the dev split of what remains
        dev = _stratified(rest, n_dev, rng, min_each=1)
    else:  # carved half from the boundaries between confusable labels: the dev split the same way, so its scores predict the evaluation set's
        dev = _carve(rest, pool_margin[keep], n_dev, rng)
    dev_keys = {id(r) for r in dev}
    dev_margin = pool_margin[[i for i in keep if id(pool_train[i]) in dev_keys]]
    train = [r for r in rest if id(r) not in dev_keys]

    ev_emb = embed_fn([r[0] for r in ev])
    margin = boundary_margin(ev_emb, [r[1] for r in ev], pairs, train_emb, [r[1] for r in pool_train])
    cut = np.quantile(margin[np.isfinite(margin)], 0.2) if np.isfinite(margin).any() else -np.inf
    rows = []
    for r, m in zip(ev, margin):
        tags = (["boundary"] if np.isfinite(m) and m <= cut else []) + (["negative"] if r[1] in out_of_scope else [])
        rows.append({"input": r[0], "output": r[1], "source": r[2], "tags": tags})
    makeup = _makeup(rows, Counter(r["output"] for r in rows), origin, labels, pairs, len(pool_train) - len(rest), len(dev), len(train))
    # how alike the two are: the share of each among the pool's fifth of rows nearest a confusable label, and of negatives
    fin = pool_margin[np.isfinite(pool_margin)]
    near = float(np.quantile(fin, 0.2)) if fin.size else -np.inf
    share = lambda m: round(float(np.mean(np.isfinite(m) & (m <= near))), 4) if len(m) else 0.0  # noqa: E731
    makeup["near_boundary"] = {"eval": share(margin), "dev": share(dev_margin)}
    makeup["negative_share"] = {"eval": round(makeup["negatives"] / max(1, len(rows)), 4),
                                "dev": round(sum(r[1] in out_of_scope for r in dev) / max(1, len(dev)), 4)}
    return Splits(rows, dev, train, makeup)


def _makeup(rows: list[dict], per_label: Counter, origin: str, labels: list[str], pairs, removed: int, dev: int, train: int) -> dict:
    """What the report says of an evaluation set."""
    return {"n": len(rows), "origin": origin, "labels_covered": len(per_label), "labels": len(labels),
            "per_label": dict(sorted(per_label.items())), "boundary": sum("boundary" in r["tags"] for r in rows),
            "negatives": sum("negative" in r["tags"] for r in rows),
            "confusable_pairs": [[a, b, round(s, 3)] for a, b, s in pairs],
            "removed_from_training": removed, "dev": dev, "train": train}


def _stratified(rows: list[Row], n: int, rng: random.Random, min_each: int = 0) -> list[Row]:
    """About `n` rows in the pool's label proportions, at least `min_each` of every label that has more than one."""
    by = defaultdict(list)
    for r in rows:
        by[r[1]].append(r)
    out = []
    for l, rs in sorted(by.items()):
        k = max(min_each if len(rs) > 1 else 0, int(round(n * len(rs) / max(1, len(rows)))))
        out += rng.sample(rs, min(k, len(rs)))
    return out


def _carve(rows: list[Row], margin: np.ndarray, n: int, rng: random.Random) -> list[Row]:
    """A stratified share of the pool, half of each label's share from its boundary (smallest margins)."""
    by = defaultdict(list)
    for i, r in enumerate(rows):
        by[r[1]].append(i)
    out = []
    for l, idx in sorted(by.items()):
        k = max(1, int(round(n * len(idx) / len(rows))))
        k = min(k, len(idx) - 1)  # keep one to learn from
        near = sorted(idx, key=lambda i: margin[i])[: k // 2] if np.isfinite(margin[idx]).any() else []
        others = [i for i in idx if i not in set(near)]
        out += [rows[i] for i in near + rng.sample(others, k - len(near))]
    return out


def freeze(run_dir: str | Path, splits: Splits) -> str:
    """Write the evaluation set and its make-up; return its SHA-256."""
    run_dir = Path(run_dir)
    write_jsonl(run_dir / "eval_set.jsonl", splits.eval)
    digest = file_hash(run_dir / "eval_set.jsonl")
    write_json(run_dir / "eval_set.json", {**splits.makeup, "sha256": digest})
    return digest


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_frozen(run_dir: str | Path) -> list[dict]:
    """The frozen evaluation set; DataError when the file changed since it was frozen."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "eval_set.json").read_text(encoding="utf-8"))
    if file_hash(run_dir / "eval_set.jsonl") != meta["sha256"]:
        raise DataError(run_dir / "eval_set.jsonl", 0, "the evaluation set changed after it was frozen (hash mismatch); "
                                                       "start a new run instead of editing it")
    return read_jsonl(run_dir / "eval_set.jsonl")


def _at_random(pool_train: list, pool_test: list, eval_share: float, max_eval: int, rng: random.Random) -> tuple[list, str]:
    """An evaluation set drawn at random: from the sources' test split when there is one, else a share of the pool."""
    if pool_test:
        return rng.sample(pool_test, min(max_eval, len(pool_test))), "the sources' test split"
    return rng.sample(pool_train, min(max_eval, int(round(eval_share * len(pool_train))))), f"{eval_share:.0%} of the pool, at random"


# ---------------------------------------------------------------- entity extraction

EntityRow = tuple[str, list, str]  # input, spans, source


def build_entities(pool_train: list[EntityRow], pool_test: list[EntityRow], types: list[str], *, eval_share: float = 0.15,
                   max_eval: int = 4000, dev_share: float = 0.1, max_dev: int = 1000, seed: int = 0, embed_fn=None) -> Splits:
    """Evaluation, development and training splits of an entity pool, as `build` does for labels:
    - every entity type covered (sentences holding a missing type move from the pool into the set);
    - boundary cases: sentences with an entity whose surface lies nearer another type's entities than most
      (the most confusable type pairs by the MiniLM centroids of their surfaces);
    - negatives: sentences with no entity."""
    if embed_fn is None:
        from tools.models.embed import embed as embed_fn
    rng = random.Random(seed)
    counts = Counter(s["label"] for _, spans, _ in pool_train + pool_test for s in spans)
    short = sorted(t for t in types if counts[t] < 2)
    if short:
        raise DataError("--data", 0, f"entity types with fewer than two examples cannot be learned and tested: {short[:10]}; "
                                     "add examples or drop them from --labels")
    ev, origin = _at_random(pool_train, pool_test, eval_share, max_eval, rng)
    taken = {id(r) for r in ev}
    for t in sorted(set(types) - {s["label"] for _, spans, _ in ev for s in spans}):
        have = [r for r in pool_train if id(r) not in taken and any(s["label"] == t for s in r[1])]
        for r in rng.sample(have, max(1, len(have) // 7)):
            ev.append(r)
            taken.add(id(r))
    keys = {" ".join(r[0].lower().split()) for r in ev}
    rest = [r for r in pool_train if id(r) not in taken and " ".join(r[0].lower().split()) not in keys]
    rng.shuffle(rest)
    dev = rest[: min(max_dev, int(round(dev_share * len(rest))))]
    train = rest[len(dev):]

    surf = lambda rows: [(r[0][s["start"]:s["end"]], s["label"], k) for k, r in enumerate(rows) for s in r[1]]  # noqa: E731
    tr, es = surf(train), surf(ev)
    tr_emb = embed_fn([x for x, _, _ in tr]) if tr else np.zeros((0, 1), np.float32)
    pairs = confusable_pairs(tr_emb, [t for _, t, _ in tr]) if tr else []
    boundary: set[int] = set()
    if es and pairs:
        margin = boundary_margin(embed_fn([x for x, _, _ in es]), [t for _, t, _ in es], pairs, tr_emb, [t for _, t, _ in tr])
        if np.isfinite(margin).any():
            cut = np.quantile(margin[np.isfinite(margin)], 0.2)
            boundary = {k for (_, _, k), m in zip(es, margin) if np.isfinite(m) and m <= cut}
    rows = [{"input": r[0], "output": r[1], "source": r[2],
             "tags": (["boundary"] if k in boundary else []) + ([] if r[1] else ["negative"])} for k, r in enumerate(ev)]
    return Splits(rows, dev, train, _makeup(rows, Counter(s["label"] for r in rows for s in r["output"]), origin, types, pairs,
                                            len(pool_train) - len(rest), len(dev), len(train)))


# ---------------------------------------------------------------- free text (generation)

def build_free_text(pool_train: list[Row], pool_test: list[Row], *, eval_share: float = 0.15, max_eval: int = 1000,
                    dev_share: float = 0.1, max_dev: int = 300, seed: int = 0, embed_fn=None) -> Splits:
    """Evaluation, development and training splits of a pool of free-text answers:
    - the sources' test split when there is one, else a share of the pool at random;
    - boundary cases: the longest inputs (top fifth by words) and the most unusual (farthest from the pool's
      centroid in MiniLM space, top tenth);
    - negatives: requests whose reference answer declines them (the task's refusals)."""
    from tools.production.free_text import REFUSAL

    if embed_fn is None:
        from tools.models.embed import embed as embed_fn
    rng = random.Random(seed)
    ev, origin = _at_random(pool_train, pool_test, eval_share, max_eval, rng)
    keys = {" ".join(r[0].lower().split()) for r in ev}
    rest = [r for r in pool_train if " ".join(r[0].lower().split()) not in keys]
    rng.shuffle(rest)
    dev = rest[: min(max_dev, int(round(dev_share * len(rest))))]
    train = rest[len(dev):]

    words = np.array([len(r[0].split()) for r in ev])
    long = words > np.quantile(words, 0.8) if len(ev) else words.astype(bool)  # strictly: ties at the cut are not long
    ref = embed_fn([r[0] for r in rng.sample(train or ev, min(2000, len(train or ev)))])  # the pool's centre, from a sample
    centre = ref.mean(0) / (np.linalg.norm(ref.mean(0)) + 1e-9)
    far = 1 - embed_fn([r[0] for r in ev]) @ centre if ev else np.zeros(0)
    unusual = far > np.quantile(far, 0.9) if len(ev) else far.astype(bool)
    rows = [{"input": r[0], "output": r[1], "source": r[2],
             "tags": (["boundary"] if long[k] or unusual[k] else []) + (["negative"] if REFUSAL.search(str(r[1])) else [])}
            for k, r in enumerate(ev)]
    return Splits(rows, dev, train, _makeup(rows, Counter(), origin, [], [], len(pool_train) - len(rest), len(dev), len(train)))
