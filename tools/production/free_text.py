"""Generation in production: what kind of failure a free-text answer is, and which corrections are noise.

- failure kinds: a refusal (the model declined), a bad format (the verifier cannot read the answer: no final
  answer, not a JSON object), too long or too short (the answer's length against the correction's, beyond a
  factor), else a wrong answer. Counted over the failures, they say what a training mix must teach.
- noise: a correction the verifier itself rejects (it has no final answer, is not a JSON object), or a worked
  solution whose calculator notes (GSM8K's `<<48/2=24>>`) do not compute, or whose final answer is not the
  result of its own last step.
"""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from typing import Sequence

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
