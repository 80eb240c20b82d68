"""Generation in production: what kind of failure a free-text answer is, and which corrections are noise.

- failure kinds: a refusal (the model declined), a bad format (the verifier cannot read the answer: no final
  answer, not a JSON object), too long or too short (the answer's length against the correction's, beyond a
  factor), else a wrong answer. Counted over the failures, they say what a training mix must teach.
- noise: a correction the verifier itself rejects (it has no final answer, is not a JSON object), or a worked
  solution whose calculator notes (GSM8K's `<<48/2=24>>`) do not compute, or whose final answer is not the
  result of its own last step; for extraction into JSON whose trusted answers copy their values from the input,
  a correction with a value its input does not hold (the keys whose trusted values are not the input's words, an
  intent, aside); a correction that contradicts the trusted answer to the same input. A judged pass the verifier
  cannot read (no final answer, no JSON object) is the judge's noise.
- triage (`triage`): poison as for the other kinds (injected instructions, gibberish, far off the task's inputs),
  then the noise above; the remaining failures with a correction are fixable.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

REFUSAL = re.compile(r"^\s*(i('m| am) (sorry|unable|not able)|i can(no|')t|sorry,|as an ai\b|i won't|i do not (know|have))", re.I)
CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
LENGTH_FACTOR = 2.0  # an answer this many times longer (or shorter) than its correction is a length failure
KINDS = ("refusal", "bad_format", "too_long", "too_short", "wrong_answer")


def _words(text: str) -> int:
    return len(text.split())


def failure_kind(prediction: str, correction: str | None, verifier: str) -> str:
    """One of KINDS for a failed answer (`correction`: the better answer, when the log has one)."""
    from tools import verify

    if REFUSAL.search(prediction or ""):
        return "refusal"
    if verifier == "final_answer" and verify.final_number(prediction or "") is None:
        return "bad_format"
    if verifier == "json_fields" and verify.json_object(prediction or "") is None:
        return "bad_format"
    if correction:
        got, want = _words(prediction or ""), max(_words(correction), 1)
        if got > LENGTH_FACTOR * want and got - want >= 5:
            return "too_long"
        if got * LENGTH_FACTOR < want and want - got >= 5:
            return "too_short"
    return "wrong_answer"


def failure_kinds(predictions: Sequence[str], corrections: Sequence[str | None], verifier: str) -> dict[str, int]:
    """How many failures of each kind, most frequent first (kinds with none left out)."""
    counts = Counter(failure_kind(p, c, verifier) for p, c in zip(predictions, corrections))
    return dict(counts.most_common())


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def arithmetic(expr: str) -> float | None:
    """The value of a calculator note's left side (numbers, + - * / // % ** and brackets only), None when it is
    anything else or too large to be a note."""
    try:
        tree = ast.parse(expr.replace(",", "").replace("x", "*").strip(), mode="eval")
    except SyntaxError:
        return None

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return float(n.value)
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            left, right = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Pow) and abs(right) > 12:
                raise ValueError("exponent too large")
            return _OPS[type(n.op)](left, right)
        if isinstance(n, ast.UnaryOp) and type(n.op) in _OPS:
            return _OPS[type(n.op)](ev(n.operand))
        raise ValueError("not arithmetic")

    try:
        return ev(tree)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None


def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", "").strip().rstrip("."))
    except ValueError:
        return None


def correction_noise(correction: str, verifier: str) -> str | None:
    """Why a correction cannot be right (None when nothing says so): the verifier cannot read it, a calculator
    note that does not compute, a final answer that is not its last note's result."""
    from tools import verify

    if verifier == "final_answer":
        final = verify.final_number(correction)
        if final is None:
            return "the correction has no final answer"
        notes = CALC.findall(correction)
        for left, right in notes:
            value, stated = arithmetic(left), _num(right)
            if value is not None and stated is not None and abs(value - stated) > 1e-6 * max(1.0, abs(value)):
                return f"its calculation {left.strip()}={right.strip()} is wrong ({value:g})"
        if notes and "####" in correction:
            last = arithmetic(notes[-1][0])
            if last is not None and _num(final) is not None and abs(last - float(final)) > 1e-6 * max(1.0, abs(last)):
                return f"its final answer {final} is not the result of its last step ({last:g})"
    if verifier == "json_fields" and verify.json_object(correction) is None:
        return "the correction is not a JSON object"
    return None


GROUNDED_SHARE = 0.95  # the trusted answers' JSON string values found in their input, at least: an extractive task
MIN_GROUNDED_VALUES = 20  # the fewest trusted values that can say a task is extractive


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def string_values(obj: Any) -> list[str]:
    """The string values of a JSON object, nested ones included."""
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in string_values(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in string_values(v)]
    return [obj] if isinstance(obj, str) and obj.strip() else []


def ungrounded(text: str, answer: str, exempt: frozenset[str] = frozenset()) -> list[str]:
    """The string values of a JSON answer that its input does not hold (case and spacing aside), the values of the
    top-level keys in `exempt` (see `extractive_keys`) aside."""
    from tools import verify

    obj = verify.json_object(answer or "")
    if obj is None:
        return []
    return [v for k, val in obj.items() if k not in exempt for v in string_values(val) if _norm(v) not in _norm(text)]


def extractive_keys(pairs: Sequence[tuple[str, str]]) -> frozenset[str] | None:
    """The top-level keys of trusted (input, JSON answer) pairs that do not copy their values from the input (a key
    with at least 5 values, under GROUNDED_SHARE of them found in the input: a label such as an intent), when the
    values of all the other keys do (GROUNDED_SHARE of at least MIN_GROUNDED_VALUES); None when they do not, and a
    correction's values cannot be checked against its input. A key the trusted data has not shown counts as
    extractive, as most keys are: a new intent's slots. Measured on the SNIPS deployment (intent and slots; 77 wrong
    corrections, 34 poison lines, 298 clean failures): the whole answer held to its input found the task not
    extractive (the intent is no input's words) and flagged none; every key but `intent` held to it flagged 37 of the
    46 wrong corrections the verifier reads, 28 of the 34 poison lines, no clean line."""
    from collections import defaultdict

    from tools import verify

    total: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    for text, answer in pairs:
        obj = verify.json_object(answer or "") or {}
        for k, val in obj.items():
            for v in string_values(val):
                total[k] += 1
                found[k] += _norm(v) in _norm(text)
    exempt = frozenset(k for k in total if total[k] >= 5 and found[k] < GROUNDED_SHARE * total[k])
    rest, hit = sum(total[k] for k in total if k not in exempt), sum(found[k] for k in total if k not in exempt)
    return exempt if rest >= MIN_GROUNDED_VALUES and hit >= GROUNDED_SHARE * rest else None


def triage(records: list, parent: list, log_emb: np.ndarray, parent_emb: np.ndarray, vocab: set[str], verifier: str) -> list[dict]:
    """One verdict per log line ({"id", "category", "reason", ...}): poison (as for the other kinds), noise (a
    correction the verifier rejects or that contradicts the trusted data, a pass the verifier cannot read), unusable
    (a failure without a correction), fixable, trusted."""
    from tools import verify
    from tools.production.triage import passes_and_failures, poison_verdicts

    out: list[dict] = [{"id": r.id} for r in records]
    passed = [i for i, r in enumerate(records) if r.verdict == "pass"]
    for i, v in poison_verdicts([r.input for r in records], passed, log_emb, parent_emb, vocab).items():
        out[i].update(v)
    fails = passes_and_failures(records, out)
    checkable = verifier in ("final_answer", "json_fields")  # the verifiers that read an answer on its own
    for i in passed:  # a pass the verifier cannot read: the judge's mistake, not an answer to keep
        why = correction_noise(records[i].prediction, verifier) if checkable and out[i].get("category") == "trusted" else None
        if why:
            out[i].update(category="noise", reason="pass_unreadable", why=why.replace("the correction", "the passed answer"))
    trusted = [(e.input, e.output if isinstance(e.output, str) else e.output[0]) for e in parent]
    trusted += [(records[i].input, records[i].prediction) for i in passed if out[i].get("category") == "trusted"]
    # what the trusted data answers to an input, where two answers can be compared (a final number, JSON fields: not
    # two summaries, which may both be right, nor two programs)
    settled = {_norm(t): a for t, a in trusted if checkable and not correction_noise(a, verifier)}
    exempt = extractive_keys(trusted) if verifier == "json_fields" else None  # None: the values are not the input's words
    for i in fails:
        r = records[i]
        why = correction_noise(r.correction, verifier)
        if why:
            out[i].update(category="noise", reason="correction_rejected", why=why)
        elif exempt is not None and (missing := ungrounded(r.input, r.correction, exempt)):
            out[i].update(category="noise", reason="correction_ungrounded", why=f"the input does not hold {missing[0]!r}")
        elif (known := settled.get(_norm(r.input))) is not None and not verify.score(verifier, [r.correction], [known])["verdicts"][0].ok:
            out[i].update(category="noise", reason="contradicts_trusted", why="the trusted data answers this input otherwise")
        else:
            out[i].update(category="fixable", reason="failure")
    return out


def patterns(records: list, tri: list[dict], log_emb: np.ndarray, verifier: str, seed: int = 0) -> list[dict]:
    """Failure patterns over every failure with a correction: clusters of their inputs, each named by its telling
    words and its most frequent failure kind, with the kinds' counts and the triage make-up."""
    from collections import Counter

    from tools.production.clustering import cluster_failures

    idx = [i for i, r in enumerate(records) if r.verdict == "fail" and r.correction is not None]
    kinds = [failure_kind(records[i].prediction, records[i].correction, verifier) for i in idx]
    pats = cluster_failures([records[i].input for i in idx], log_emb[idx], kinds, [""] * len(idx), seed=seed)
    out = []
    for p in pats:
        cats = Counter(tri[idx[m]]["category"] for m in p.members)
        by_kind = Counter(kinds[m] for m in p.members)
        top = by_kind.most_common(1)[0][0]
        out.append({"name": f"{' '.join(p.top_words[:3]) or 'misc'}: {top.replace('_', ' ')}", "size": p.size, "kind": cats.most_common(1)[0][0],
                    "triage": dict(cats), "top_words": p.top_words, "failure_kinds": dict(by_kind.most_common()),
                    "confusions": [[k, "", n] for k, n in by_kind.most_common(3)], "examples": p.examples,
                    "ids": [records[idx[m]].id for m in p.members]})
    return out
