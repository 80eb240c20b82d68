"""A production deployment built like the paper's CLINC150 one, from Banking77.

30 confusable intents, a deployed MiniLM trained on few examples (near 85% on traffic), about 3,000
judged logs, and a held-out test set that no log came from. Optional noise: wrong corrections and
poisoned lines. Everything follows from the seed.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from evals.datasets import banking77, trec_questions
from tools.fixtures.simulate import simulate_deployment
from tools.models.embed import embed
from tools.store.data import write_json


def confusable_intents(rows: list[tuple[str, str]], n: int) -> list[str]:
    """The n intents whose centroids lie closest to another intent's (most confusable first)."""
    by = defaultdict(list)
    for t, l in rows:
        by[l].append(t)
    labels = sorted(by)
    cents = np.stack([embed(by[l][:60]).mean(0) for l in labels])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    sim = cents @ cents.T
    np.fill_diagonal(sim, -1)
    order = np.argsort(-sim.max(1))
    return sorted(labels[i] for i in order[:n])


def build(out: Path, seed: int = 0, n_intents: int = 30, parent_per_intent: int = 30, logs_per_intent: int = 100,
          test_per_intent: int = 30, wrong_rate: float = 0.0, poison_rate: float = 0.0, data_dir: str | None = None,
          deployed_epochs: int = 10) -> dict:
    rng = random.Random(seed)
    train, test = banking77("train", data_dir), banking77("test", data_dir)
    labels = confusable_intents(train, n_intents)
    keep = set(labels)
    by_tr, by_te = defaultdict(list), defaultdict(list)
    for t, l in train:
        if l in keep:
            by_tr[l].append(t)
    for t, l in test:
        if l in keep:
            by_te[l].append(t)
    parent, traffic_rows, test_rows = [], [], []
    for l in labels:
        rng.shuffle(by_tr[l])
        rng.shuffle(by_te[l])
        parent += [(t, l) for t in by_tr[l][:parent_per_intent]]
        traffic_rows += [(t, l) for t in by_tr[l][parent_per_intent : parent_per_intent + logs_per_intent]]
        test_rows += [(t, l) for t in by_te[l][:test_per_intent]]
    rng.shuffle(traffic_rows)
    info = simulate_deployment(out, labels, parent, traffic_rows, test_rows, seed=seed, wrong_rate=wrong_rate,
                               poison_rate=poison_rate, deployed_epochs=deployed_epochs, off_domain=trec_questions(data_dir))
    write_json(out / "deployment.json", info)
    return info


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parent-per-intent", type=int, default=30)
    ap.add_argument("--wrong-rate", type=float, default=0.0)
    ap.add_argument("--poison-rate", type=float, default=0.0)
    ap.add_argument("--deployed-epochs", type=int, default=10)
    ap.add_argument("--data-dir")
    a = ap.parse_args()
    print(json.dumps(build(Path(a.out), a.seed, parent_per_intent=a.parent_per_intent, wrong_rate=a.wrong_rate,
                           poison_rate=a.poison_rate, data_dir=a.data_dir, deployed_epochs=a.deployed_epochs), indent=2))
