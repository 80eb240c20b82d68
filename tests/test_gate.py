"""The churn gate, property-tested: over 1,000 random cases it never passes a candidate that breaks one of its
rules, and every figure it reports equals an independent recount."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from tools.gate import CHURN_BY_MARGIN, GateConfig, churn_from_margin, evaluate_gate, poisson_binomial_sf

LABELS = ["a", "b", "c", "d"]
RATES = [r for _, r in CHURN_BY_MARGIN]


def _tail_by_convolution(p: list[float], k: int) -> float:
    """P(X >= k), the whole distribution built by convolving one trial at a time (not the gate's tail DP)."""
    dist = np.array([1.0])
    for q in p:
        dist = np.convolve(dist, [1 - q, q])
    return float(dist[k:].sum())


def _mcnemar(fixes: int, flips: int) -> float:
    n = fixes + flips
    return 1.0 if n == 0 else sum(math.comb(n, j) for j in range(fixes, n + 1)) / 2 ** n


def _recall_drops(truth, before, after, tol):
    out = {}
    for label in set(truth):
        idx = [i for i, t in enumerate(truth) if t == label]
        if len(idx) < 5:
            continue
        rb = sum(before[i] == label for i in idx) / len(idx)
        ra = sum(after[i] == label for i in idx) / len(idx)
        if round(rb - ra, 6) > tol:
            out[label] = round(rb - ra, 4)
    return out


def _case(rng: random.Random):
    n_reg, n_fail = rng.randint(0, 60), rng.randint(0, 30)
    flip_rate, fix_rate = rng.choice([0.0, 0.02, 0.1, 0.3]), rng.choice([0.0, 0.3, 0.7, 1.0])
    reg = [rng.choice(LABELS) for _ in range(n_reg)]
    churn = [rng.choice(RATES) for _ in range(n_reg)]
    after = [rng.choice([l for l in LABELS if l != t]) if rng.random() < flip_rate + c else t for t, c in zip(reg, churn)]
    ft = [rng.choice(LABELS) for _ in range(n_fail)]
    fb = [rng.choice([l for l in LABELS if l != t]) for t in ft]
    fa = [t if rng.random() < fix_rate else rng.choice(LABELS) for t in ft]
    cfg = GateConfig(max_flips=rng.randint(0, 4), alpha=rng.choice([0.01, 0.05, 0.2]), label_tolerance=rng.choice([0.1, 0.3, 1.0]),
                     systematic_flips=rng.choice([2, 3]))
    return reg, after, ft, fb, fa, churn, cfg


def test_the_churn_gate_passes_only_candidates_that_keep_every_rule():
    rng = random.Random(0)
    outcomes = Counter()
    stable_cut = float(churn_from_margin([GateConfig.stable_margin])[0])
    for _ in range(1000):
        reg, after, ft, fb, fa, churn, cfg = _case(rng)
        g = evaluate_gate(reg, reg, after, ft, fb, fa, cfg, reg_churn=churn)
        flips = [i for i, (t, a) in enumerate(zip(reg, after)) if a != t]
        stable = [i for i in flips if churn[i] <= stable_cut]
        fixes = [i for i, (t, b, a) in enumerate(zip(ft, fb, fa)) if a == t and b != t]
        p_churn = _tail_by_convolution(churn, len(flips))
        p_gain = _mcnemar(len(fixes), len(flips))
        flip_l, fix_l = Counter(reg[i] for i in flips), Counter(ft[i] for i in fixes)
        systematic = {l for l, n in flip_l.items() if n >= cfg.systematic_flips and n > fix_l.get(l, 0)
                      and _tail_by_convolution([c for t, c in zip(reg, churn) if t == l], n) < cfg.alpha}
        drops = _recall_drops(reg + ft, reg + fb, after + fa, cfg.label_tolerance)
        rules = {"stable": len(stable) <= cfg.max_flips, "churn": p_churn >= cfg.alpha, "net_gain": p_gain < cfg.alpha,
                 "systematic": not systematic, "label_drops": not drops}
        # the figures are the recount's
        assert g["negative_flips"] == len(flips) and g["stable_flips"] == len(stable)
        assert g["slices"]["churn"]["expected_churn"] == pytest.approx(sum(churn), abs=0.006)
        assert g["slices"]["churn"]["p_value"] == pytest.approx(round(p_churn, 4), abs=1e-4)
        assert (g["slices"]["net_gain"]["fixes"], g["slices"]["net_gain"]["flips"]) == (len(fixes), len(flips))
        assert g["slices"]["net_gain"]["p_value"] == pytest.approx(round(p_gain, 4), abs=1e-4)
        assert set(g["slices"]["systematic"]) == systematic and g["slices"]["label_drops"] == pytest.approx(drops, abs=1e-3)
        # it passes exactly when every rule holds; a failed rule is named among the reasons
        borderline = any(abs(p - cfg.alpha) < 1e-9 for p in (p_churn, p_gain))
        if not borderline:
            assert g["passed"] == all(rules.values()), (rules, g["reasons"])
        assert len(g["reasons"]) == sum(not ok for ok in rules.values()) or borderline
        assert set(g["failed"]) == {r for r, ok in rules.items() if not ok} or borderline  # named as the rules they are
        outcomes[g["passed"]] += 1
    assert outcomes[True] > 50 and outcomes[False] > 50  # both outcomes were exercised


def test_poisson_binomial_tail_matches_its_definition():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.5, rng.integers(0, 40)).tolist()
        for k in (0, 1, 3, 10, len(p), len(p) + 1):
            assert poisson_binomial_sf(p, k) == pytest.approx(_tail_by_convolution(p, k) if k <= len(p) else 0.0, abs=1e-12)


def test_churn_rules_tell_luck_from_regression_and_the_ratchet_skips_what_the_version_trained_on():
    reg = ["a", "b", "c", "d"] * 25
    unsure = [0.25] * 20 + [0.001] * 80  # 20 answers the deployed model was unsure of
    other = {"a": "b", "b": "c", "c": "d", "d": "a"}
    lucky = [other[l] for l in reg[:5]] + reg[5:]  # 5 flips, all on unsure answers, no label twice but one: churn
    fails_t, fails_b, fails_a = ["c"] * 20, ["a"] * 20, ["c"] * 20
    g = evaluate_gate(reg, reg, lucky, fails_t, fails_b, fails_a, GateConfig(), reg_churn=unsure)
    assert g["passed"] and g["stable_flips"] == 0 and g["negative_flips"] == 5, g["reasons"]
    broken = reg[:20] + [other[l] for l in reg[20:23]] + reg[23:]  # 3 flips on stable answers
    g = evaluate_gate(reg, reg, broken, fails_t, fails_b, fails_a, GateConfig(), reg_churn=unsure)
    assert not g["passed"] and "stable passes" in g["reasons"][0]
    same = reg[:40] + ["b" if l == "a" else l for l in reg[40:60]] + reg[60:]  # 5 flips, all of label a, on stable answers
    g = evaluate_gate(reg, reg, same, fails_t, fails_b, fails_a, GateConfig(max_flips=10), reg_churn=unsure)
    assert not g["passed"] and g["slices"]["systematic"] == {"a": {"flips": 5, "fixes": 0}}
    luck = [other[l] if i < 20 and l == "a" else l for i, l in enumerate(reg)]  # label a's 5 unsure answers flip: churn
    g = evaluate_gate(reg, reg, luck, fails_t, fails_b, fails_a, GateConfig(max_flips=10), reg_churn=[0.6] * 20 + [0.001] * 80)
    assert g["slices"]["systematic"] == {} and g["reasons"] == ["label recall dropped: a -20%"]  # churn, yet a recall drop
    g = evaluate_gate(reg, reg, reg, fails_t, fails_b, fails_b, GateConfig(), reg_churn=unsure)  # fixes nothing
    assert not g["passed"] and any("significantly exceed" in r for r in g["reasons"])
    ratchet = {"truth": ["x"] * 6, "before": ["x"] * 6, "after": ["y"] * 4 + ["x"] * 2, "version": "v0001",
               "trained": [True] * 3 + [False] * 3}
    g = evaluate_gate(reg, reg, reg, fails_t, fails_b, fails_a, GateConfig(), ratchet=ratchet, reg_churn=unsure)
    prev = g["slices"]["previous_version"]
    assert prev["n"] == 3 and prev["negative_flips"] == 1 and prev["trained_on_left_out"] == 3 and g["passed"]
    g = evaluate_gate(reg, reg, reg, fails_t, fails_b, fails_a, GateConfig(mode="absolute", max_flips=0), ratchet=ratchet)
    assert not g["passed"] and "v0001" in g["reasons"][0]


def test_a_sentence_churns_by_its_least_certain_word():
    from tools.gate import SENTENCE_CHURN_BY_MARGIN, sentence_churn

    lowest, highest = SENTENCE_CHURN_BY_MARGIN[0][1], SENTENCE_CHURN_BY_MARGIN[-1][1]
    assert sentence_churn([0.0, 1.0]) == [round(lowest, 4), round(highest, 4)] and lowest > highest
    assert sentence_churn([]) == []


def test_a_tagger_sentence_at_the_stable_margin_counts_as_stable():
    from tools.gate import sentence_churn

    sp = lambda *s: [{"start": a, "end": a + 3, "label": t} for a, t in s]  # noqa: E731
    reg = [sp((0, "PER"))] * 6
    after = [sp((0, "LOC"))] * 3 + [sp((0, "PER"))] * 3  # three sentences flipped
    sure, unsure = sentence_churn([0.5] * 6), sentence_churn([0.01] * 6)
    g = evaluate_gate(reg, reg, after, [], [], [], GateConfig(max_flips=2), task="ner", reg_churn=sure)
    assert g["stable_flips"] == 3 and any("stable passes" in r for r in g["reasons"])
    g = evaluate_gate(reg, reg, after, [], [], [], GateConfig(max_flips=2), task="ner", reg_churn=unsure)
    assert g["stable_flips"] == 0 and not any("stable passes" in r for r in g["reasons"])


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_enough_failures_are_held_out_for_the_net_gain_rule_to_pass_at_all(task):
    """15% of 55 fixable failures is 8: with 0 flips a candidate needs 5 fixes among them (0.5 ** 5 < 0.05), and
    undetected poison among the 8 can make that impossible. At least 12 are held out, never more than half."""
    from tools.gate import mcnemar_greater
    from tools.production import diagnosis
    from tools.production import entities
    from tools.store.data import LogRecord

    def split(n_fixable: int, share: float = 0.15) -> dict:
        out = [{"category": "fixable"} if i < n_fixable else {"category": "trusted"} for i in range(n_fixable + 300)]
        label = (lambda i: [{"start": 0, "end": 1, "label": "A"}]) if task == "ner" else (lambda i: "ab"[i % 2])
        recs = [LogRecord(id=str(i), input=f"t{i}", prediction=label(i), verdict="fail" if i < n_fixable else "pass",
                          correction=label(i + 1) if i < n_fixable else None) for i in range(len(out))]
        return (entities if task == "ner" else diagnosis).split_eval(recs, out, 600, share, seed=0)

    held = {n: len(split(n)["held_out_failures"]) for n in (4, 10, 55, 200)}
    assert held == {4: 0, 10: 5, 55: 12, 200: 30}
    assert len(split(55, share=0.0)["held_out_failures"]) == 0  # a user who holds out none gets none
    assert mcnemar_greater(5, 0) < 0.05 <= mcnemar_greater(4, 0)  # why 8 with poison among them was too few


def test_a_gate_is_a_named_policy_of_rules(monkeypatch):
    """A new gate is one entry in POLICIES: here the absolute flip count with the net-gain test instead of a share fixed."""
    from tools import gate as gt

    monkeypatch.setitem(gt.POLICIES, "strict", ("flips", "net_gain"))
    reg = ["a"] * 30
    flipped = ["b"] * 3 + ["a"] * 27
    fails_t, fails_b = ["a"] * 4, ["b"] * 4
    g = evaluate_gate(reg, reg, flipped, fails_t, fails_b, fails_t, GateConfig(mode="strict", max_flips=2))
    assert g["policy"] == ["flips", "net_gain"] and g["failed"] == ["flips", "net_gain"] and not g["passed"]
    assert "label_drops" not in g["slices"] and g["slices"]["net_gain"] == {"fixes": 4, "flips": 3, "p_value": 0.5}
    g = evaluate_gate(reg, reg, reg, fails_t, fails_b, fails_t, GateConfig(mode="strict", max_flips=2))
    assert g["failed"] == ["net_gain"] and g["slices"]["net_gain"]["p_value"] == 0.0625  # 4 fixes, no flip: not yet evidence
