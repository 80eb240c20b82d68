"""Failure patterns: embedding clusters and label-confusion pairs, each named by its telling words."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Pattern:
    name: str
    size: int
    members: list[int]  # indices into the failures given to `cluster_failures`
    top_words: list[str]
    confusions: list[tuple[str, str, int]]  # (predicted, corrected, count), most frequent first
    examples: list[str] = field(default_factory=list)


def telling_words(docs: list[str], groups: list[list[int]], k: int = 4) -> list[list[str]]:
    """Class-based TF-IDF: the words most specific to each group compared with the others."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    joined = [" ".join(docs[i] for i in g) for g in groups]
    try:
        vec = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", sublinear_tf=True)
        m = vec.fit_transform(joined).toarray()
    except ValueError:  # no usable words at all
        return [[] for _ in groups]
    vocab = np.array(vec.get_feature_names_out())
    return [list(vocab[np.argsort(-row)[:k]][row[np.argsort(-row)[:k]] > 0]) for row in m]


WARD_SAMPLE = 5000  # Ward's memory grows with the square of the failures: beyond this many, fit a sample (docs/scale.md)


def nearest_centre(embeddings: np.ndarray, fitted: np.ndarray, assign: np.ndarray) -> np.ndarray:
    """Every row's cluster: the one whose centre (the mean of its fitted rows) is nearest, in chunks of 50,000 rows."""
    centres = np.stack([fitted[assign == c].mean(0) for c in range(assign.max() + 1)])
    sq = (centres ** 2).sum(1)
    return np.concatenate([np.argmin(sq[None, :] - 2 * embeddings[i:i + 50_000] @ centres.T, axis=1)
                           for i in range(0, len(embeddings), 50_000)])


def cluster_failures(texts: list[str], embeddings: np.ndarray, predicted: list[str], corrected: list[str],
                     max_clusters: int = 12, seed: int = 0) -> list[Pattern]:
    """Group failures into patterns by embedding (agglomerative, Ward on unit vectors), largest first; beyond
    `WARD_SAMPLE` failures Ward clusters a seeded sample and the rest join the nearest cluster centre.

    Ward linkage keeps clusters of comparable size; average linkage chained most failures of a dense
    task into one cluster."""
    n = len(texts)
    if n == 0:
        return []
    if n < 3:
        groups = [list(range(n))]
    else:
        from sklearn.cluster import AgglomerativeClustering

        k = int(min(max_clusters, max(2, round(np.sqrt(n / 2)))))
        sample = np.sort(np.random.default_rng(seed).choice(n, WARD_SAMPLE, replace=False)) if n > WARD_SAMPLE else np.arange(n)
        fitted = AgglomerativeClustering(n_clusters=min(k, n), linkage="ward").fit_predict(embeddings[sample])
        assign = fitted if len(sample) == n else nearest_centre(embeddings, embeddings[sample], fitted)
        groups = [list(np.flatnonzero(assign == c)) for c in range(assign.max() + 1)]
        groups = [g for g in groups if g]
    words = telling_words(texts, groups)
    out = []
    for g, w in zip(groups, words):
        conf = Counter((predicted[i], corrected[i]) for i in g).most_common(3)
        centre = embeddings[g].mean(0)
        closest = sorted(g, key=lambda i: -float(embeddings[i] @ centre))
        top = conf[0][0] if conf else ("?", "?")
        name = f"{' '.join(w[:3]) or 'misc'}: {top[0]} -> {top[1]}"
        out.append(Pattern(name, len(g), [int(i) for i in g], w, [(a, b, c) for (a, b), c in conf],
                           [texts[i] for i in closest[:3]]))
    return sorted(out, key=lambda p: -p.size)


def confusion_pairs(predicted: list[str], corrected: list[str], top: int = 10) -> list[tuple[str, str, int]]:
    return [(a, b, c) for (a, b), c in Counter(zip(predicted, corrected)).most_common(top)]
