"""The regression gate: a candidate is promotable only if it breaks (almost) nothing that worked.

Two modes (`GateConfig.mode`):

- "churn" (default) tells churn from regression. The deployed model is unsure of many of its right answers,
  and any retrain flips some of those by chance; counting them like confident ones measures luck. Each
  regression item carries a churn estimate (the chance a retrain flips it, from the deployed model's top-2
  margin: `churn_from_margin`), and the rules are
  - stable: on passes whose churn is low (margin at least `stable_margin`), at most `max_flips` negative
    flips, an absolute count: the paper's rule where the old answer was not luck;
  - churn: the flips on all passes not significantly above the expected churn (one-sided exact test of the
    Poisson-binomial count, level `alpha`);
  - net gain: on the held-out logs (regression passes and held-out failures) fixes significantly exceed
    flips (exact one-sided McNemar test on the discordant pairs, level `alpha`);
  - systematic: no label (entity type) with `systematic_flips` or more flips where its flips outnumber its fixes;
  - label drops: no label's recall (entity type's F1) dropping by more than `label_tolerance`;
  - ratchet: the stable, churn and systematic rules on the previous version's evaluation items that it was
    not trained on.
- "absolute" keeps the first rule set: at most `max_flips` negative flips on all passes, at least `min_fixed`
  of the held-out failures fixed, label drops, and the flip limit on the previous version's items.

Every rule is a plain function of the evidence (`RULE_FUNCTIONS`); a mode is a named policy, the rules it applies
in order (`POLICIES`), so a new gate is one entry there and the report's figures are the rules' own. The result
names the rules that failed (`failed`, from RULES) beside the reasons written for a person; what reacts to a
failure reads the names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tools.models.metrics import negative_flips

# The rules' names, as `evaluate_gate` lists the failed ones; "ratchet_" names are the same rules on the previous
# version's evaluation items. Flip rules: any of them failing means the candidate flipped too many passes.
FLIP_RULES = ("flips", "stable", "churn", "ratchet_flips", "ratchet_stable", "ratchet_churn")
RULES = FLIP_RULES + ("fixed", "net_gain", "systematic", "label_drops", "ratchet_systematic")


@dataclass
class GateConfig:
    max_flips: int = 2
    min_fixed: float = 0.5  # "absolute" mode only
    label_tolerance: float = 0.15
    mode: str = "churn"
    alpha: float = 0.05  # level of the churn and net-gain tests
    stable_margin: float = 0.2  # a pass whose deployed top-2 margin is at least this is stable
    systematic_flips: int = 3


# ---------------------------------------------------------------- churn estimates

# The chance that a retrain flips a right answer, by the deployed model's top-2 margin on it: (upper bound of
# the margin bin, flip rate). Measured with `python -m evals.churn_study` on the Banking77 deployment (749 right
# test answers, three retrains: naive, retain-distill from the base, a warm start; evals/results/churn_study.json):
# 6.7% below 0.05, 1.1% from 0.05 to 0.2 (0.55% and 1.3% pooled to keep the table monotone), 0.4% from 0.2 to
# 0.3, none of 432 above (0.1% taken). It predicts 11.0 flips for retrains that flipped 10 and 11. The margin's
# AUC for the flipped answers was 0.78-0.84, MC dropout's 0.73-0.87 (10 passes), at no extra cost.
CHURN_BY_MARGIN = ((0.05, 0.067), (0.2, 0.011), (0.3, 0.004), (1.01, 0.001))
# The same for a tagger's exactly-right sentences, by the smallest word margin of the sentence. Measured with
# `python -m evals.churn_study --task ner` on the MIT Restaurant deployment (251 exactly right test sentences,
# three retrains: naive, a warm start, a retrain from the base; evals/results/churn_study_ner.json): 19.4% below
# 0.05, 11.5% from 0.05 to 0.1, 3.3% from 0.1 to 0.2, 2.3% above (58 sentences pooled). Sentences churn far more
# than intents: the classifier's table predicted 8.1 flips for retrains that flipped 24, 31 and 33; this one 29.4
# (fitted on those same retrains). The margin's AUC for the flipped sentences: 0.66-0.74.
SENTENCE_CHURN_BY_MARGIN = ((0.05, 0.194), (0.1, 0.115), (0.2, 0.033), (1.01, 0.023))
# The same for a generator's right answers (verifier-judged), by the least token margin of the answer fed in
# (causal.answer_margins); `evals.churn_study --task generation` on the SmolLM2 restaurant-JSON deployment: 4 retrains
# flipped 11, 4, 19, 5 of 123 (bins below 0.2 pooled; 0 of 34 above 0.5, 0.5% taken; AUC 0.73-0.90). One deployment.
GENERATION_CHURN_BY_MARGIN = ((0.2, 0.213), (0.3, 0.095), (0.5, 0.015), (1.01, 0.005))


def churn_table(task: str) -> tuple[tuple[float, float], ...]:
    """The measured churn-by-margin table of a task kind: sentences for entity extraction, answers otherwise."""
    from tools import kinds

    return kinds.get(task).churn_by_margin()


def churn_from_margin(margin: Sequence[float] | np.ndarray, table: Sequence[tuple[float, float]] = CHURN_BY_MARGIN) -> np.ndarray:
    """Per-item flip probabilities from top-2 margins (a step function of `table`: (upper margin, rate) rows)."""
    m = np.asarray(margin, dtype=float)
    out = np.full(m.shape, table[-1][1])
    for hi, rate in reversed(table):
        out[m < hi] = rate
    return out


def sentence_churn(margins: Sequence[float]) -> list[float]:
    """Per-sentence churn of a tagger's answers (a sentence flips when any of its words does), from each sentence's
    smallest word top-2 margin (tools.models.tagger.spans_and_margins) and SENTENCE_CHURN_BY_MARGIN."""
    return churn_from_margin(margins, SENTENCE_CHURN_BY_MARGIN).round(4).tolist()


def token_churn(margins: Sequence[float]) -> list[float]:
    """Per-answer churn of a generator's answers, from each answer's least token top-2 margin
    (tools.models.causal.answer_margins) and GENERATION_CHURN_BY_MARGIN."""
    return churn_from_margin(margins, GENERATION_CHURN_BY_MARGIN).round(4).tolist()


def churn_of_probs(probs: np.ndarray) -> list[float]:
    """Per-row churn of a classifier's answers, from its (n, labels) probabilities' top-2 margins."""
    if len(probs) == 0:
        return []
    top = np.sort(np.asarray(probs), 1)
    margin = top[:, -1] - (top[:, -2] if top.shape[1] > 1 else 0.0)
    return churn_from_margin(margin).round(4).tolist()


def poisson_binomial_sf(p: Sequence[float], k: int) -> float:
    """P(X >= k) for X the number of successes of independent trials with probabilities `p` (exact)."""
    if k <= 0:
        return 1.0
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if k > len(p):
        return 0.0
    dist = np.zeros(k + 1)  # P(X = j) for j < k; dist[k] collects P(X >= k)
    dist[0] = 1.0
    for q in p:
        tail = dist[k] + dist[k - 1] * q
        dist[1:k] = dist[1:k] * (1 - q) + dist[:k - 1] * q
        dist[0] *= 1 - q
        dist[k] = tail
    return float(min(1.0, max(0.0, dist[k])))


def mcnemar_greater(fixes: int, flips: int) -> float:
    """One-sided exact McNemar p-value that fixes exceed flips (binomial test on the discordant pairs)."""
    from scipy.stats import binomtest

    n = fixes + flips
    return 1.0 if n == 0 else float(binomtest(fixes, n, 0.5, alternative="greater").pvalue)


# The net-gain rule needs evidence: with k held-out failures fixed and none flipped its p-value is 0.5 ** k, so
# fewer than 5 real fixes never pass. And the held-out failures carry the poison triage missed: in AdaptFT-Bench's
# drift scenario (stage 2, 25% poison) 15% of 55 fixable failures was 8, 5 of them wrong corrections, and every
# candidate was refused though its fine-tuned model scored 0.97 against the deployed 0.74 on the union test.
MIN_HELD_OUT_FAILURES = 12


def held_out_count(n_fixable: int, share: float) -> int:
    """How many fixable failures to hold out for the net-gain rule: `share` of them, at least
    MIN_HELD_OUT_FAILURES and at most half of them; none when the share is 0 or fewer than 5 are fixable."""
    if share <= 0 or n_fixable < 5:
        return 0
    return min(max(int(round(share * n_fixable)), MIN_HELD_OUT_FAILURES), n_fixable // 2)


# ---------------------------------------------------------------- rules: (figures, reason or None)


def stable_rule(flipped: Sequence[bool], stable: Sequence[bool], max_flips: int, where: str = "the regression set") -> tuple[dict, str | None]:
    n = sum(1 for f, s in zip(flipped, stable) if f and s)
    fig = {"n": int(sum(stable)), "negative_flips": n, "max_flips": max_flips}
    return fig, (f"{n} negative flips on stable passes of {where} (limit {max_flips})" if n > max_flips else None)


def churn_rule(flipped: Sequence[bool], churn: Sequence[float], alpha: float, where: str = "the regression set") -> tuple[dict, str | None]:
    observed = int(sum(flipped))
    p_value = poisson_binomial_sf(churn, observed)
    fig = {"n": len(churn), "negative_flips": observed, "expected_churn": round(float(np.sum(churn)), 2), "p_value": round(p_value, 4)}
    bad = p_value < alpha
    return fig, (f"{observed} negative flips on {where}, significantly above the {fig['expected_churn']} that churn explains "
                 f"(p = {fig['p_value']} < {alpha})" if bad else None)


def net_gain_rule(fixes: int, flips: int, alpha: float) -> tuple[dict, str | None]:
    p_value = mcnemar_greater(fixes, flips)
    fig = {"fixes": fixes, "flips": flips, "p_value": round(p_value, 4)}
    return fig, (f"fixes ({fixes}) do not significantly exceed flips ({flips}) on the held-out logs (p = {fig['p_value']}, needs < {alpha})"
                 if p_value >= alpha else None)


def systematic_rule(flip_labels: Sequence[str], fix_labels: Sequence[str], min_flips: int,
                    churn_by_label: dict[str, list[float]] | None = None, alpha: float = 0.05) -> tuple[dict, str | None]:
    """A label regresses when it has `min_flips` or more flips, more than its fixes, and (given the churn of its
    passes) more than its churn explains. Without that last condition every label with many passes and few
    held-out failures fails on churn alone: measured on the Banking77 deployment, both candidates had no flip
    on a stable pass and failed only here (transfer_timing: 3 and 4 flips, 1 fix)."""
    flips, fixes = Counter(flip_labels), Counter(fix_labels)
    bad = {l: {"flips": n, "fixes": fixes.get(l, 0)} for l, n in flips.items() if n >= min_flips and n > fixes.get(l, 0)
           and (churn_by_label is None or poisson_binomial_sf(churn_by_label.get(l, []), n) < alpha)}
    return bad, ("flips outnumber fixes for " + ", ".join(f"{l} ({v['flips']} flips, {v['fixes']} fixes)" for l, v in sorted(bad.items()))
                 if bad else None)


# ---------------------------------------------------------------- the gate


def as_judged(task: str, truth: list, answers: list) -> list:
    """Each answer the kind judges right replaced by its truth, so the rules can read right as equal: a generator's
    answer worded otherwise that its verifier passes is no flip (for labels and spans, right already means equal)."""
    from tools import kinds

    return [t if ok else a for t, a, ok in zip(truth, answers, kinds.get(task).judged(truth, answers))]


def _label_of(answer, task: str) -> list[str]:
    """The labels an answer is about: the label, or (entities) the types of its spans ('none' when empty)."""
    from tools import kinds

    return kinds.get(task).labels_of(answer)


@dataclass
class Evidence:
    """What the rules read: the deployed and the candidate answers on the regression set (passes) and on the
    held-out failures, the churn of each pass, the previous version's items (the ratchet), and what follows from them."""

    reg_truth: list
    reg_before: list
    reg_after: list
    fail_truth: list
    fail_before: list
    fail_after: list
    task: str
    failures_slice: str
    reg_churn: Sequence[float] | None
    ratchet: dict | None
    flips: list[int]  # regression items flipped
    fixed: float | None  # the share of held-out failures fixed (entities: of their mistakes)
    drops: dict[str, float]  # labels (entity types) whose recall (F1) dropped past the tolerance
    _flip_figures: tuple | None = None

    @property
    def fail_fixed(self) -> list[bool]:
        """Each held-out failure: wrong before, right after."""
        return [a == t and b != t for t, b, a in zip(self.fail_truth, self.fail_before, self.fail_after)]

    def flip_rules(self, cfg: GateConfig) -> tuple[dict, dict[str, str | None]]:
        """The stable, churn and systematic rules on the regression set, computed once for the three."""
        if self._flip_figures is None:
            self._flip_figures = _flip_rules(self.reg_truth, self.reg_before, self.flips, self.reg_churn,
                                             [t for t, ok in zip(self.fail_truth, self.fail_fixed) if ok], cfg, self.task, "the regression set")
        return self._flip_figures


# ---------------------------------------------------------------- rules and policies
# A rule reads the evidence and returns (figures for the report's slices, {failed rule name: reason}). A policy is
# the rules a gate mode applies, in the order a person reads their reasons; a new gate is one entry in POLICIES.

Rule = Callable[[Evidence, GateConfig], tuple[dict, dict[str, str]]]


def _label_drops(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
    from tools import kinds

    what = kinds.get(ev.task).dropped
    return {"label_drops": ev.drops}, ({"label_drops": f"{what}: " + ", ".join(f"{k} -{v:.0%}" for k, v in ev.drops.items())} if ev.drops else {})


def _flips_absolute(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
    n = len(ev.flips)
    return {}, ({"flips": f"{n} negative flips on the regression set (limit {cfg.max_flips})"} if n > cfg.max_flips else {})


def _fixed_absolute(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
    if ev.fixed is None or ev.fixed >= cfg.min_fixed:
        return {}, {}
    from tools import kinds

    what = {"held_out_failures": "held-out failures"}.get(ev.failures_slice, ev.failures_slice.replace("_", " "))
    return {}, {"fixed": f"fixes {ev.fixed:.0%} of {kinds.get(ev.task).fixed_what.format(what)} (needs {cfg.min_fixed:.0%})"}


def _one_flip_rule(name: str) -> Rule:
    def rule(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
        figs, reasons = ev.flip_rules(cfg)
        return {name: figs[name]}, ({name: reasons[name]} if reasons[name] else {})

    rule.__name__ = f"_{name}"
    return rule


def _net_gain(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
    figs, reason = net_gain_rule(sum(ev.fail_fixed), len(ev.flips), cfg.alpha)
    return {"net_gain": figs}, ({"net_gain": reason} if reason else {})


def _ratchet(ev: Evidence, cfg: GateConfig) -> tuple[dict, dict[str, str]]:
    if not (ev.ratchet and ev.ratchet.get("truth")):
        return {}, {}
    figs, reasons = ratchet_rule(ev.ratchet, cfg, ev.task)
    return {"previous_version": figs}, {f"ratchet_{k}": r for k, r in reasons.items()}


RULE_FUNCTIONS: dict[str, Rule] = {
    "label_drops": _label_drops, "flips": _flips_absolute, "fixed": _fixed_absolute, "stable": _one_flip_rule("stable"),
    "churn": _one_flip_rule("churn"), "net_gain": _net_gain, "systematic": _one_flip_rule("systematic"), "ratchet": _ratchet,
}
POLICIES: dict[str, tuple[str, ...]] = {
    # churn tells churn from regression: stable passes, expected churn, net gain, per-label regressions, the ratchet
    "churn": ("label_drops", "stable", "churn", "net_gain", "systematic", "ratchet"),
    # the first rule set: an absolute flip count over all passes and a share of the held-out failures fixed
    "absolute": ("label_drops", "flips", "fixed", "ratchet"),
}
MODES = tuple(POLICIES)


def evaluate_gate(
    reg_truth: list, reg_before: list, reg_after: list,
    fail_truth: list, fail_before: list, fail_after: list,
    cfg: GateConfig,
    ratchet: dict | None = None,  # {"truth", "before", "after", "version", "churn"?, "trained"?} on the previous version's items
    texts: list[str] | None = None,
    failures_slice: str = "held_out_failures",
    task: str = "classification",
    reg_churn: Sequence[float] | None = None,  # per regression item: the chance a retrain flips it (churn mode)
) -> dict:
    """The candidate against the rules of the policy `cfg.mode` names. Answers are labels, or (task "ner") span
    lists in canonical form: an answer is right when it equals the truth, so a flipped sentence is one whose
    entities were all right before and are not after. Label drops are recall drops per label, or F1 drops per
    entity type."""
    if cfg.mode not in POLICIES:
        raise ValueError(f"gate mode {cfg.mode!r} is not one of {', '.join(MODES)}")
    from tools import kinds

    reg_before, reg_after = as_judged(task, reg_truth, reg_before), as_judged(task, reg_truth, reg_after)
    fail_before, fail_after = as_judged(task, fail_truth, fail_before), as_judged(task, fail_truth, fail_after)
    fixed, drops, reg_accuracy = kinds.get(task).gate_evidence(reg_truth, reg_before, reg_after, fail_truth, fail_before, fail_after,
                                                               cfg.label_tolerance)
    ev = Evidence(reg_truth, reg_before, reg_after, fail_truth, fail_before, fail_after, task, failures_slice, reg_churn, ratchet,
                  negative_flips(reg_truth, reg_before, reg_after), fixed, drops)
    slices = {"regression": {"n": len(reg_truth), "negative_flips": len(ev.flips), "accuracy_after": reg_accuracy},
              failures_slice: {"n": len(fail_truth), "fixed": fixed}}
    failed: dict[str, str] = {}  # rule name -> its reason, in the order a person reads them
    for name in POLICIES[cfg.mode]:
        figs, reasons = RULE_FUNCTIONS[name](ev, cfg)
        slices.update(figs)
        failed.update(reasons)
    stable_flips = slices["stable"]["negative_flips"] if "stable" in slices else len(ev.flips)
    examples = [{"input": texts[i], "label": reg_truth[i], "now": reg_after[i],
                 **({"churn": round(float(reg_churn[i]), 4)} if reg_churn is not None else {})} for i in ev.flips[:5]] if texts else []
    return {"mode": cfg.mode, "policy": list(POLICIES[cfg.mode]), "negative_flips": len(ev.flips), "stable_flips": stable_flips,
            "max_flips": cfg.max_flips, "fixed": fixed, "passed": not failed, "failed": list(failed), "reasons": list(failed.values()),
            "slices": slices, "flip_examples": examples}


def ratchet_rule(ratchet: dict, cfg: GateConfig, task: str | None = None) -> tuple[dict, dict[str, str]]:
    """The previous version's evaluation items it was not trained on: the flip limit ("absolute"), or the
    stable, churn and systematic rules ("churn"), read as answers of the kind `task` (None: classification). Returns its figures and {rule name: reason} for each rule it fails."""
    keep = [i for i, trained in enumerate(ratchet.get("trained") or [False] * len(ratchet["truth"])) if not trained]
    truth = [ratchet["truth"][i] for i in keep]
    before = as_judged(task or "classification", truth, [ratchet["before"][i] for i in keep])
    after = as_judged(task or "classification", truth, [ratchet["after"][i] for i in keep])
    version = ratchet.get("version")
    flips = negative_flips(truth, before, after)
    fig = {"version": version, "n": len(truth), "negative_flips": len(flips), "trained_on_left_out": len(ratchet["truth"]) - len(keep)}
    where = f"{version}'s evaluation set"
    if cfg.mode == "absolute":
        return fig, ({"flips": f"{len(flips)} negative flips on {where} (limit {cfg.max_flips})"} if len(flips) > cfg.max_flips else {})
    churn_all = ratchet.get("churn")
    fixed = [t for t, b, a in zip(truth, before, after) if b != t and a == t]
    figs, reasons = _flip_rules(truth, before, flips, None if churn_all is None else [churn_all[i] for i in keep], fixed, cfg, task, where)
    return {**fig, **figs}, {k: r for k, r in reasons.items() if r}


def _flip_rules(truth: list, before: list, flips: list[int], churn: Sequence[float] | None, fixed_truths: list,
                cfg: GateConfig, task: str, where: str) -> tuple[dict, dict[str, str | None]]:
    """The stable, churn and systematic rules on one set of items (`flips` indexes the items flipped; `fixed_truths`
    are the truths of the items fixed). Without churn estimates every item counts as stable and the churn test
    is skipped. Returns the {"stable", "churn", "systematic"} figures and each rule's reason to fail (or None)."""
    flipped = [False] * len(truth)
    for i in flips:
        flipped[i] = True
    c = np.zeros(len(truth)) if churn is None else np.asarray(churn, dtype=float)
    stable = c <= float(churn_from_margin([cfg.stable_margin], churn_table(task))[0])  # the churn a pass at the stable margin has
    figs: dict = {}
    figs["stable"], r1 = stable_rule(flipped, stable, cfg.max_flips, where)
    figs["churn"], r2 = churn_rule(flipped, c, cfg.alpha, where) if churn is not None else ({}, None)
    by_label: dict[str, list[float]] = {}
    for t, b, p in zip(truth, before, c):
        if b == t:  # the churn of the answers that could flip
            for l in _label_of(t, task):
                by_label.setdefault(l, []).append(float(p))
    figs["systematic"], r3 = systematic_rule([l for i in flips for l in _label_of(truth[i], task)],
                                             [l for t in fixed_truths for l in _label_of(t, task)], cfg.systematic_flips,
                                             by_label if churn is not None else None, cfg.alpha)
    return figs, {"stable": r1, "churn": r2, "systematic": r3}


def describe(g: dict) -> str:
    """The gate's result in one line, for a person."""
    verdict = "passed" if g.get("passed") else "failed"
    if g.get("mode", "absolute") == "absolute":
        return f"{g.get('negative_flips')} negative flips on the regression set (limit {g.get('max_flips')}), {verdict}"
    sl = g.get("slices") or {}
    churn, gain = sl.get("churn") or {}, sl.get("net_gain") or {}
    parts = [f"{g.get('negative_flips')} negative flips on the regression set, {g.get('stable_flips')} of them on stable passes "
             f"(limit {g.get('max_flips')})"]
    if churn:
        parts.append(f"churn explains {churn['expected_churn']} (p = {churn['p_value']})")
    if gain:
        parts.append(f"{gain['fixes']} fixes against {gain['flips']} flips (p = {gain['p_value']})")
    return "; ".join(parts) + f", {verdict}"
