"""Verifiers: what decides right and wrong for free-text answers (generation). Each is a plain function
`(prediction, reference) -> Verdict` and serves as metric (the mean score), judge (`ok`) and flip detector (a
pass whose new answer is not `ok`).

- `final_answer`: the number after the last `####` (GSM8K's worked solutions), else the last number; exact.
- `json_fields`: the answer parses as a JSON object; score = the share of the reference's fields it matches.
- `rouge_l`: ROUGE-L F1 (rouge-score; `evaluate.load` would fetch from the hub), the best over references;
  `ok` at `threshold`.
- `code_tests`: the program and its tests run in a sandbox (tools/verify/sandbox.py); ok when they pass.

`choose(description, references)` picks one from the shape of the task's data (its words when it has none), and says why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class Verdict:
    ok: bool  # right, as a judge decides it
    score: float  # 0..1, the metric's share for this answer
    why: str = ""  # what was wrong, for a person (empty when right)


def final_number(text: str) -> str | None:
    """The final answer of a worked solution: after the last '####', else the last number; commas dropped."""
    tail = text.rsplit("####", 1)[1] if "####" in text else text
    found = NUMBER.findall(tail)
    if not found:
        return None
    n = found[0 if "####" in text else -1].replace(",", "").rstrip(".")
    return str(int(float(n))) if re.fullmatch(r"-?\d+(\.0+)?", n) else n


def final_answer(prediction: str, reference: str) -> Verdict:
    want, got = final_number(reference), final_number(prediction)
    if want is None:
        raise ValueError(f"the reference has no final answer: {reference[-80:]!r}")
    if got is None:
        return Verdict(False, 0.0, "no final answer")
    return Verdict(got == want, float(got == want), "" if got == want else f"final answer {got}, expected {want}")


def json_object(text: str) -> dict | None:
    """The answer's JSON object: the whole text, else its first {...} block (models wrap JSON in prose or fences)."""
    for candidate in (text.strip(), *(m.group(0) for m in re.finditer(r"\{.*\}", text, re.S))):
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return " ".join(a.lower().split()) == " ".join(b.lower().split())
    return a == b


def json_fields(prediction: str, reference: str) -> Verdict:
    want = json_object(reference)
    if want is None:
        raise ValueError(f"the reference is not a JSON object: {reference[:80]!r}")
    got = json_object(prediction)
    if got is None:
        return Verdict(False, 0.0, "not a JSON object")
    wrong = [k for k in want if k not in got or not _same(got[k], want[k])]
    extra = [k for k in got if k not in want]
    score = (len(want) - len(wrong)) / len(want) if want else float(not got)
    why = "; ".join(p for p in (f"fields wrong or missing: {', '.join(wrong)}" if wrong else "",
                                f"fields not asked for: {', '.join(extra)}" if extra else "") if p)
    return Verdict(not wrong and not extra, score, why)


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str | Sequence[str], threshold: float = 0.3) -> Verdict:
    scorer = _rouge()
    refs = [reference] if isinstance(reference, str) else list(reference)
    best = max(scorer.score(r, prediction)["rougeL"].fmeasure for r in refs)
    return Verdict(best >= threshold, best, "" if best >= threshold else f"ROUGE-L {best:.2f} below {threshold}")


def code_tests(prediction: str, reference: str) -> Verdict:
    """`reference`: the tests (asserts, or a `check(candidate)` function with the entry point named in a first line
    `# entry: name`); the program is the prediction's code (a ```python fence when it has one)."""
    from tools.verify.sandbox import run_python

    fence = re.search(r"```(?:python)?\n(.*?)```", prediction, re.S)
    program = fence.group(1) if fence else prediction
    entry = re.match(r"#\s*entry:\s*(\w+)", reference)
    tail = f"\n\ncheck({entry.group(1)})\n" if entry else "\n"
    res = run_python(program + "\n\n" + reference + tail)
    last = (res.stderr.strip().splitlines() or [""])[-1]
    return Verdict(res.ok, float(res.ok), "" if res.ok else "; ".join(p for p in (res.reason, last) if p))


VERIFIERS: dict[str, Callable[..., Verdict]] = {"final_answer": final_answer, "json_fields": json_fields, "rouge_l": rouge_l,
                                                 "code_tests": code_tests}
WORDS = {  # a description using these words asks for the verifier, when there are no references to read
    "code_tests": r"\b(code|program|function|python|implement)\b",
    "json_fields": r"\b(json|fields?|structured|extract \w+ into)\b",
    "final_answer": r"\b(math|arithmetic|word problems?|calculate|how many)\b",
    "rouge_l": r"\b(summari[sz]\w*|paraphrase|rewrite|reply|translate|describe)\b",
}


def _first(reference: Any) -> str | None:
    """A reference as text: a list of references (several right answers) by its first."""
    if isinstance(reference, (list, tuple)):
        reference = reference[0] if reference else None
    return reference if isinstance(reference, str) else None


def by_shape(references: Sequence[Any], share: float = 1.0) -> tuple[str, str] | None:
    """The verifier the references' shape settles, and why: every one (at least `share` of them: production's
    corrections hold noise) a JSON object, a worked solution ending in '#### n', a bare number, or tests (asserts, a
    `# entry:` line); None for free text."""
    refs = [r for r in (_first(x) for x in references[:200]) if r is not None]
    if not refs:
        return None
    every = "every" if share >= 1 else f"{share:.0%} or more of the"
    most = lambda test: sum(bool(test(r)) for r in refs) >= share * len(refs)  # noqa: E731
    if most(lambda r: r.strip().startswith("{") and json_object(r) is not None):
        return "json_fields", f"{every} reference output is a JSON object" if share >= 1 else f"{every} reference outputs are JSON objects"
    if most(lambda r: re.search(r"####\s*-?\d", r)):
        return "final_answer", f"{every} reference output ends in '#### <number>'" if share >= 1 else f"{every} reference outputs end in '#### <number>'"
    if most(lambda r: NUMBER.fullmatch(r.strip())):
        return "final_answer", f"{every} reference output is a number" if share >= 1 else f"{every} reference outputs are numbers"
    if most(lambda r: re.match(r"#\s*entry:", r) or re.search(r"^\s*assert\b", r, re.M)):
        return "code_tests", f"{every} reference output is a set of tests" if share >= 1 else f"{every} reference outputs are tests"
    return None


def choose(description: str, references: Sequence[Any], share: float = 1.0) -> tuple[str, str]:
    """The verifier for a task, and why: the references' shape (what can be checked is what the data settles; `share`:
    the part of them that must have it), else, with no references at all, the description's words; ROUGE-L for free text."""
    found = by_shape(references, share)
    if found:
        return found
    said = [(n, m.group(0)) for n, p in WORDS.items() if (m := re.search(p, description or "", re.I))]
    if said and not any(_first(r) for r in references):
        return said[0][0], f"the description says {said[0][1]!r}"
    why = "free text: overlap with the reference (ROUGE-L)"
    return "rouge_l", why + (f"; the description says {said[0][1]!r}" if said else "")


def score(name: str, predictions: Sequence[str], references: Sequence[Any]) -> dict:
    """The metric over a set: the mean score, the share judged right, and each answer's verdict."""
    many = name == "rouge_l"  # the one verifier that takes several right answers; the others read the first
    verdicts = [VERIFIERS[name](p, r if many else _first(r)) for p, r in zip(predictions, references)]
    n = max(len(verdicts), 1)
    return {"verifier": name, "score": sum(v.score for v in verdicts) / n, "right": sum(v.ok for v in verdicts) / n,
            "verdicts": verdicts}
