"""The regression gate: a candidate is promotable only if it breaks (almost) nothing that worked.

- negative flips on the regression set (passed logs held out from training): at most `max_flips`,
  an absolute count, not a rate;
- the share of held-out fixable failures it fixes: at least `min_fixed` (for entities, the share of those
  failures' entity mistakes it mends, net of new ones: a sentence may hold several);
- no label's recall (for entities: no entity type's F1) dropping by more than `label_tolerance`;
- the same flip limit on the previously promoted version's evaluation set (the ratchet).
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.metrics import classification_metrics, fix_rate, label_drops, negative_flips


@dataclass
class GateConfig:
    max_flips: int = 2
    min_fixed: float = 0.5
    label_tolerance: float = 0.15


def evaluate_gate(
    reg_truth: list[str], reg_before: list[str], reg_after: list[str],
    fail_truth: list[str], fail_before: list[str], fail_after: list[str],
    cfg: GateConfig,
    ratchet: dict | None = None,  # {"truth", "before", "after", "version"} on the previous version's eval set
    texts: list[str] | None = None,
    failures_slice: str = "held_out_failures",
    task: str = "classification",
) -> dict:
    """Answers are labels, or (task "ner") span lists in canonical form: an answer is right when it equals the
    truth, so a flipped sentence is one whose entities were all right before and are not after. Label drops
    are recall drops per label, or F1 drops per entity type."""
    flips = negative_flips(reg_truth, reg_before, reg_after)
    truth = reg_truth + fail_truth
    if task == "ner":
        from tools.entities import mistakes_fixed, type_drops
        from tools.spans import entity_metrics

        fixed = mistakes_fixed(fail_truth, fail_before, fail_after)
        drops = type_drops(entity_metrics(truth, reg_before + fail_before), entity_metrics(truth, reg_after + fail_after), cfg.label_tolerance)
        reg_accuracy = entity_metrics(reg_truth, reg_after)["sentence_accuracy"]
    else:
        fixed = fix_rate(fail_truth, fail_after)
        before = classification_metrics(truth, reg_before + fail_before)
        after = classification_metrics(truth, reg_after + fail_after)
        drops = label_drops(before, after, cfg.label_tolerance)
        reg_accuracy = classification_metrics(reg_truth, reg_after)["accuracy"]
    reasons = []
    if len(flips) > cfg.max_flips:
        reasons.append(f"{len(flips)} negative flips on the regression set (limit {cfg.max_flips})")
    if fixed is not None and fixed < cfg.min_fixed:
        what = {"held_out_failures": "held-out failures"}.get(failures_slice, failures_slice.replace("_", " "))
        what = f"the entity mistakes in {what}" if task == "ner" else what
        reasons.append(f"fixes {fixed:.0%} of {what} (needs {cfg.min_fixed:.0%})")
    if drops:
        what = "entity type F1 dropped" if task == "ner" else "label recall dropped"
        reasons.append(f"{what}: " + ", ".join(f"{k} -{v:.0%}" for k, v in drops.items()))
    slices = {
        "regression": {"n": len(reg_truth), "negative_flips": len(flips), "accuracy_after": reg_accuracy},
        failures_slice: {"n": len(fail_truth), "fixed": fixed},
        "label_drops": drops,
    }
    if ratchet and ratchet.get("truth"):
        slices["previous_version"], reason = ratchet_rule(ratchet, cfg)
        reasons += [reason] if reason else []
    examples = [{"input": texts[i], "label": reg_truth[i], "now": reg_after[i]} for i in flips[:5]] if texts else []
    return {"negative_flips": len(flips), "max_flips": cfg.max_flips, "fixed": fixed, "passed": not reasons,
            "reasons": reasons, "slices": slices, "flip_examples": examples}


def ratchet_rule(ratchet: dict, cfg: GateConfig) -> tuple[dict, str | None]:
    """The flip limit on a previous version's evaluation set: (its slice, the reason it fails or None)."""
    rflips = negative_flips(ratchet["truth"], ratchet["before"], ratchet["after"])
    sl = {"version": ratchet.get("version"), "n": len(ratchet["truth"]), "negative_flips": len(rflips)}
    if len(rflips) > cfg.max_flips:
        return sl, f"{len(rflips)} negative flips on {ratchet.get('version')}'s evaluation set (limit {cfg.max_flips})"
    return sl, None
