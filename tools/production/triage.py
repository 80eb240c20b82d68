"""Triage of judged logs: which failures are fixable, which corrections are noise, which lines are poison.

- poison: instructions injected into the input, gibberish, or text far off the task's domain. Poison is
  excluded whatever its verdict, except that a failure far off the domain whose correction a model of the
  trusted data finds plausible is kept (`plausible_corrections`): the deployed model fails most on its most
  unusual real requests, and those are still the task.
- noise: a failure whose correction is likely wrong. Confident learning (Northcutt et al. 2021), adapted
  to failures: models of the trusted data only (the parent data and the passed logs) give out-of-sample
  probabilities, and per-label thresholds come from cross-validated probabilities on the trusted data.
  A correction is noise when its probability is a small fraction (`ratio`) of its label's threshold.
  CL's second condition (another label confidently above its own threshold) is dropped: failures are
  ambiguous by nature and almost never clear it. The default ratio is 1/K for K labels (1/3 at most):
  "less likely than a label drawn at chance". A fixed ratio does not carry across label counts: 0.0125
  suited Banking77 with 77 labels and caught nothing with 6 or 7; on AdaptFT-Bench stages (6 to 20
  labels) 1/K caught 349 of 406 wrong corrections and flagged 22 of 1,203 right ones (see the README).
  With two labels the correction is the only alternative and even 1/3 catches little: there the
  deployed model's own error rate decides.
- negated: a request with a negation or false premise ("not", "never", "it is not true that ...") whose
  label's trusted examples (the parent data) practically never negate: the label fits the request
  without its negation, so learning it would teach the model to ignore negation. Where negation is
  common in the data (Banking77's "my card has not arrived"), nothing is flagged.
- fixable: the remaining failures with a correction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

INJECTION_PATTERNS = [
    r"\bignore (all |any |the )?(previous|prior|above|earlier|your)\b",
    r"\bdisregard (the|all|any|your|previous|above)\b",
    r"\bforget (your|all|the|previous) (rules|instructions)",
    r"\b(new|system|hidden) (instruction|prompt|override)s?\b",
    r"\bsystem override\b",
    r"\byou are (now|dan)\b",
    r"\b(respond|reply|answer|output|print|say) (only )?(with )?(the label )?['\"]?[a-z_]+['\"]? (to every|no matter|for every)",
    r"\b(classify|label) (this|it|everything) as\b",
    r"\b(reply|respond) only with\b",
    r"\bjailbreak\b|\bdeveloper mode\b|\bmaintenance mode\b|\bwithout restrictions\b",
    r"#{3,}\s*(new )?instruction",
]
_INJECTION = re.compile("|".join(INJECTION_PATTERNS), re.IGNORECASE)


def is_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def known_word_share(text: str, vocab: set[str]) -> float:
    """Share of the text's words that are known: whole words of the tokenizer's vocabulary (or such a word with
    a plural or possessive s), names in title case, hashtags, mentions and links. Punctuation, numbers, prices
    and times count neither way: tables and scores ("6. John Mayock ( Britain ) 3:33.94") and tweets are
    ordinary traffic. On the clean WNUT-17 deployment the former rule (every token counted, only vocabulary
    words and plain numbers known) set aside 56 of 1,073 real failures as gibberish, this one 1; of 2,000
    strings from tools.fixtures.simulate.gibberish both catch 99.2%."""
    known = total = 0
    for token in re.findall(r"\S+", text):
        core = re.sub(r"^[^\w#@]+|[^\w]+$", "", token)
        if not any(c.isalpha() for c in core):
            continue
        total += 1
        low = core.lower()
        known += bool(low in vocab or re.sub(r"'?s$", "", low) in vocab or re.fullmatch(r"[A-Z][a-z]+", core)
                      or re.fullmatch(r"[#@][A-Za-z_]\w*", core) or low.startswith(("http://", "https://", "www.")))
    return known / total if total else 1.0


def is_gibberish(text: str, vocab: set[str], min_share: float = 0.5) -> bool:
    letters = sum(c.isalpha() for c in text)
    if letters < 2:
        return True
    return known_word_share(text, vocab) < min_share


def domain_similarity(emb: np.ndarray, ref: np.ndarray, k: int = 5, exclude_self: bool = False) -> np.ndarray:
    """Mean cosine similarity of each row of `emb` to its k nearest rows of `ref`."""
    if len(ref) == 0:
        return np.ones(len(emb), dtype=np.float32)
    out = np.zeros(len(emb), dtype=np.float32)
    for i in range(0, len(emb), 1024):
        sims = emb[i : i + 1024] @ ref.T
        if exclude_self:
            for r in range(sims.shape[0]):
                sims[r, i + r] = -1.0
        kk = min(k, sims.shape[1])
        out[i : i + 1024] = np.sort(np.partition(sims, -kk, axis=1)[:, -kk:], axis=1).mean(1)
    return out


def off_task_threshold(ref: np.ndarray, quantile: float = 0.01, margin: float = 0.85, k: int = 5) -> float:
    """A similarity below which text is off the task's domain, calibrated on the trusted inputs."""
    if len(ref) < 10:
        return 0.0
    own = domain_similarity(ref, ref, k=k, exclude_self=True)
    return float(np.quantile(own, quantile) * margin)


NEGATION = re.compile(r"\b(not|never|no longer|cannot)\b|n't\b", re.IGNORECASE)


def has_negation(text: str) -> bool:
    return bool(NEGATION.search(text))


def negation_rates(texts: list[str], labels: list[str], prior_weight: float = 10.0) -> dict[str, float]:
    """Per label, the smoothed share of its examples that contain a negation: (negated + w*g) / (n + w),
    with g the overall share (itself smoothed), so a label with few examples leans on the whole data."""
    n_all = len(texts)
    neg = [has_negation(t) for t in texts]
    g = (sum(neg) + 0.5) / (n_all + 1)
    counts: dict[str, list[int]] = {}
    for l, ng in zip(labels, neg):
        c = counts.setdefault(l, [0, 0])
        c[0] += ng
        c[1] += 1
    return {l: (k + prior_weight * g) / (n + prior_weight) for l, (k, n) in counts.items()}


@dataclass
class NoiseModel:
    labels: list[str]
    probs_fn: object  # callable: embeddings -> (n, len(labels)) probabilities
    thresholds: np.ndarray  # per-label confident-learning thresholds


def fit_noise_model(emb: np.ndarray, y: list[str], seed: int = 0) -> NoiseModel:
    """Logistic regression on embeddings of trusted data, with cross-validated per-label thresholds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = sorted(set(y))
    yi = np.array([labels.index(l) for l in y])
    # newton-cg: the same optimum as lbfgs (thresholds equal to 0.002 on the demo) in a fifteenth of the time
    # (0.2 s against 2.9 s for six fits on 438 x 384; evals/speed_bench.py found this fit the run's largest overhead)
    clf = LogisticRegression(C=10.0, max_iter=2000, solver="newton-cg")
    counts = np.bincount(yi, minlength=len(labels))
    folds = int(min(5, counts.min())) if len(labels) > 1 else 0
    if folds >= 2:
        cv = cross_val_predict(clf, emb, yi, cv=StratifiedKFold(folds, shuffle=True, random_state=seed), method="predict_proba")
        thresholds = np.array([cv[yi == j, j].mean() for j in range(len(labels))])
    else:
        thresholds = np.full(len(labels), 0.5)
    if len(labels) > 1:
        clf.fit(emb, yi)
        fn = clf.predict_proba
    else:
        fn = lambda e: np.ones((len(e), 1))  # noqa: E731
    return NoiseModel(labels, fn, thresholds)


def default_noise_ratio(n_labels: int) -> float:
    """1/K: a correction less likely than a label at chance, relative to its label's threshold (1/3 at most)."""
    return 1.0 / max(n_labels, 3)


def noisy_corrections(model: NoiseModel, emb: np.ndarray, corrections: list[str], extra_probs: np.ndarray | None = None,
                      ratio: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Confident-learning flags for failures' corrections, and the probability each correction got.

    `extra_probs` (same label order) is averaged in when given (e.g. the deployed model's own,
    out-of-sample probabilities). A correction is flagged when its probability is under `ratio` times its
    label's threshold (`ratio`, default `default_noise_ratio`). Unknown labels are never flagged here:
    new labels are handled by the caller.
    """
    ratio = default_noise_ratio(len(model.labels)) if ratio is None else ratio
    probs = model.probs_fn(emb)
    if extra_probs is not None:
        probs = (probs + extra_probs) / 2
    flags = np.zeros(len(corrections), dtype=bool)
    p_corr = np.full(len(corrections), np.nan, dtype=np.float32)
    for i, c in enumerate(corrections):
        if c not in model.labels:
            continue
        j = model.labels.index(c)
        p_corr[i] = probs[i, j]
        flags[i] = probs[i, j] < ratio * model.thresholds[j]
    return flags, p_corr


def label_agreement(emb: np.ndarray, labels: list[str | None], idx: list[int], k: int = 10) -> np.ndarray:
    """For each row in `idx`, the share of its k nearest other rows (cosine, among rows with a label) whose label is
    its own. Traffic of the task has neighbours that mostly agree; another task's text given labels at random
    agrees about 1/K of the time for K labels."""
    have = np.array([i for i, l in enumerate(labels) if l is not None])
    out = np.zeros(len(idx), dtype=np.float32)
    if len(have) < 2 or not idx:
        return out
    lab = np.array([labels[i] for i in have], dtype=object)
    sims = emb[idx] @ emb[have].T
    for r, i in enumerate(idx):
        sims[r, have == i] = -np.inf
    kk = min(k, len(have) - 1)
    near = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
    for r, i in enumerate(idx):
        out[r] = float(np.mean(lab[near[r]] == labels[i]))
    return out


# the trusted inputs the off-task check compares with: all of them would make it quadratic in the logs (a day of a
# million logs: ~1e15 FLOP, hours; docs/scale.md); a seeded sample calibrates the threshold and scores the logs alike
REFERENCE_SAMPLE = 20_000


def poison_verdicts(texts: list[str], passed: list[int], log_emb: np.ndarray, parent_emb: np.ndarray, vocab: set[str],
                    quantile: float = 0.01, margin: float = 0.85, labels: list[str | None] | None = None,
                    min_agreement: float = 0.5) -> dict[int, dict]:
    """Poison among the logged inputs, by index: injected instructions, gibberish, or text far from every trusted
    input (the parent data and the clean passed logs, indices `passed`). Poison goes whatever its verdict.

    With `labels` (the label each line asserts: a pass's prediction, a failure's correction) and more than two of
    them, a pass far from the parent data vouches for its neighbours only when at least `min_agreement` of its
    nearest labelled lines carry its label (`label_agreement`): another task's text labelled at random passes
    1 time in K by chance, and those passes would otherwise make that task look like the deployment's own."""
    clean = [i for i in passed if not is_injection(texts[i]) and not is_gibberish(texts[i], vocab)]
    if labels is not None and len({l for l in labels if l is not None}) > 2 and clean and len(parent_emb) >= 10:
        own = off_task_threshold(parent_emb, quantile, margin)
        far = [i for i, s in zip(clean, domain_similarity(log_emb[clean], parent_emb)) if s < own]
        if far:
            doubtful = {i for i, a in zip(far, label_agreement(log_emb, labels, far)) if a < min_agreement}
            clean = [i for i in clean if i not in doubtful]
    ref = np.concatenate([parent_emb, log_emb[clean]]) if clean else parent_emb
    if len(ref) > REFERENCE_SAMPLE:  # the threshold and every log's similarity from one seeded sample: linear in the logs
        ref = ref[np.sort(np.random.default_rng(0).choice(len(ref), REFERENCE_SAMPLE, replace=False))]
    threshold = off_task_threshold(ref, quantile, margin)
    sim = domain_similarity(log_emb, ref)
    out = {}
    for i, text in enumerate(texts):
        if is_injection(text):
            out[i] = {"category": "poison", "reason": "prompt_injection"}
        elif is_gibberish(text, vocab):
            out[i] = {"category": "poison", "reason": "gibberish"}
        elif sim[i] < threshold:
            out[i] = {"category": "poison", "reason": "off_task", "similarity": round(float(sim[i]), 3), "threshold": round(threshold, 3)}
    return out


def plausible_corrections(model: NoiseModel, emb: np.ndarray, corrections: list[str], share: float = 0.2) -> np.ndarray:
    """Whether the trusted data's own model finds each correction plausible: its probability at least `share` of
    its label's confident-learning threshold and at least 2/K (a label at twice chance; never with two labels).

    Used to take back an off-task verdict on a failure: the deployed model's failures are its hardest, most
    unusual inputs, so more of them fall below a similarity threshold calibrated on its passes. On the clean
    Banking77 deployment (452 real failures, 30 labels) the threshold set aside 11 (2.4%); this keeps 7 of them,
    while of 300 TREC questions given a random label (the benchmark's off-domain poison) it keeps 1.7%."""
    probs = model.probs_fn(emb)
    k = len(model.labels)
    out = np.zeros(len(corrections), dtype=bool)
    for i, c in enumerate(corrections):
        if c in model.labels and k > 2:
            j = model.labels.index(c)
            out[i] = probs[i, j] >= share * model.thresholds[j] and probs[i, j] >= 2.0 / k
    return out


def passes_and_failures(records, out: list[dict]) -> list[int]:
    """After poison: a pass is trusted, a failure without a correction unusable (written into `out`); returns the
    indices of the failures left to judge."""
    fails = []
    for i, r in enumerate(records):
        if "category" in out[i]:
            continue
        if r.verdict == "pass":
            out[i].update(category="trusted", reason="passed")
        elif r.correction is None:
            out[i].update(category="unusable", reason="no_correction")
        else:
            fails.append(i)
    return fails
