"""A linear probe: logistic regression on the base model's frozen sentence embeddings (mean pooled, unit norm).

MiniLM's sentence embeddings were trained to place paraphrases together, and a probe on them is strong for
intents. On Banking77 it scores 0.9279 on the evaluation set, above a plain fine-tune of the same model (0.9169,
0.9211), whose classifier reads the first token rather than the mean (session 22). The probe serves twice:
- the baseline survey (tools.coldstart.survey) scores it on the dev split to set the search's target;
- its cross-fitted probabilities are a teacher for the fine-tune (`cross_fitted`).
"""

from __future__ import annotations

import numpy as np

CAP = 4000  # rows the survey's probe fits on at most (a random sample; the probe then takes seconds)
C = 10.0  # inverse regularisation: the embeddings are unit vectors, so the default 1.0 underfits 77 labels


def _fit(x: np.ndarray, y: list[str]):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=C).fit(x, y)


def linear_probe(train: list[tuple[str, str]], dev: list[tuple[str, str]], base_model: str | None, seed: int = 0) -> float | None:
    """Accuracy on `dev` of the probe fit on `train` (at most CAP rows); None when there is nothing to fit
    (fewer than two labels) or to score."""
    import random

    from tools.models.embed import embed

    rows = list(train)
    if len(rows) > CAP:
        rows = random.Random(seed).sample(rows, CAP)
    if len({y for _, y in rows}) < 2 or not dev:
        return None
    pred = _fit(embed([t for t, _ in rows], base_model), [y for _, y in rows]).predict(embed([t for t, _ in dev], base_model))
    return round(sum(p == y for p, (_, y) in zip(pred, dev)) / len(dev), 4)


def cross_fitted(texts: list[str], targets: list[str], labels: list[str], base_model: str | None, folds: int = 5,
                 seed: int = 0) -> np.ndarray:
    """(n, len(labels)) probabilities of the probe for each row, from a probe that did not see that row (k-fold),
    zero on the rows it gets wrong: a teacher for focal distillation (tools.models.classifier.distilled), which
    teaches only the rows the teacher gets right. All zero when there are too few rows a label to fold."""
    from collections import Counter

    from sklearn.model_selection import StratifiedKFold

    from tools.models.embed import embed

    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    y = np.array(targets)
    if len(set(targets)) < 2 or min(Counter(targets).values()) < 2:
        return out
    x = embed(list(texts), base_model)
    k = min(folds, min(Counter(targets).values()))
    for fit_rows, held in StratifiedKFold(k, shuffle=True, random_state=seed).split(x, y):
        clf = _fit(x[fit_rows], list(y[fit_rows]))
        out[np.ix_(held, [labels.index(c) for c in clf.classes_])] = clf.predict_proba(x[held])
    right = np.array([labels[i] for i in out.argmax(1)]) == y
    return out * right[:, None]
