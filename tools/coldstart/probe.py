"""A linear probe: logistic regression on the base model's frozen sentence embeddings (mean pooled, unit norm).

MiniLM's sentence embeddings were trained to place paraphrases together, and a probe on them is strong for
intents. On Banking77 it scores 0.9279 on the evaluation set, above a plain fine-tune of the same model (0.9169,
0.9211), whose classifier reads the first token rather than the mean (session 22). The baseline survey
(tools.coldstart.survey) scores it on the dev split to set the search's target.

Measured beside the fine-tune (Banking77, session 22, scratch scripts): the fine-tuned model's and the probe's
probabilities averaged score 0.9386 (pioneer's model) and 0.9370-0.9380 (the plain ones), but that ensemble is two
models, not one transformers folder; distilling the probe's cross-fitted probabilities into the plain recipe
(focal, weight 0.5) scored 0.9214, inside the plain fine-tune's seed spread. Neither is searched. What is: the probe
as the head of one model, fine-tuned with it (tools/models/mean_head.py, session 23).
"""

from __future__ import annotations

CAP = 4000  # rows the survey's probe fits on at most (a random sample; the probe then takes seconds)
C = 10.0  # inverse regularisation: the embeddings are unit vectors, so the default 1.0 underfits 77 labels


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
    clf = fit(embed([t for t, _ in rows], base_model), [y for _, y in rows])
    pred = clf.predict(embed([t for t, _ in dev], base_model))
    return round(sum(p == y for p, (_, y) in zip(pred, dev)) / len(dev), 4)


def fit(features, targets):
    """The probe's logistic regression fit on `features` (rows of floats) and `targets`: the survey's probe and the
    probe head of a fine-tuned model (tools.models.mean_head) share it."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=C).fit(features, targets)
