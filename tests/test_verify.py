"""Verifiers for free-text answers, on right and wrong answers, and the sandbox that runs generated code: a
network call, an infinite loop, a huge allocation, a large file and a forked child are all stopped."""

from __future__ import annotations

import pytest

from tools import verify
from tools.verify.sandbox import Limits, namespaces, run_python

GSM_REF = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether she sold 48+24 = <<48+24=72>>72 clips.\n#### 72"


def test_final_answer_reads_the_number_after_the_marker_else_the_last_one():
    assert verify.final_answer("48 + 24 = 72.\n#### 72", GSM_REF).ok
    assert verify.final_answer("She sold 72 clips in all", GSM_REF).ok  # no marker: the last number
    assert verify.final_answer("#### 1,072", "#### 1072").ok and verify.final_answer("#### 72.0", GSM_REF).ok
    wrong = verify.final_answer("#### 70", GSM_REF)
    assert not wrong.ok and wrong.score == 0 and "70" in wrong.why and "72" in wrong.why
    assert verify.final_answer("I do not know", GSM_REF).why == "no final answer"
    with pytest.raises(ValueError, match="no final answer"):
        verify.final_answer("72", "no number here")


def test_json_fields_score_the_share_of_fields_matched():
    ref = '{"name": "Ana Lima", "city": "Lisbon", "age": 31}'
    assert verify.json_fields('{"age": 31, "city": "lisbon", "name": "Ana  Lima"}', ref).ok  # order, case, spaces
    assert verify.json_fields('Here it is: ```json\n{"name": "Ana Lima", "city": "Lisbon", "age": 31}\n```', ref).ok
    half = verify.json_fields('{"name": "Ana Lima", "city": "Porto", "age": 31}', ref)
    assert not half.ok and half.score == pytest.approx(2 / 3) and "city" in half.why
    extra = verify.json_fields('{"name": "Ana Lima", "city": "Lisbon", "age": 31, "job": "pilot"}', ref)
    assert not extra.ok and extra.score == 1.0 and "job" in extra.why
    assert verify.json_fields("name: Ana", ref) == verify.Verdict(False, 0.0, "not a JSON object")


def test_rouge_l_takes_the_best_reference_and_judges_at_the_threshold():
    refs = ["The customer asks to reset a password and the agent sends a link.", "A password reset link is sent."]
    good = verify.rouge_l("The agent sends the customer a password reset link.", refs)
    bad = verify.rouge_l("They talk about the weather in Paris.", refs)
    assert good.ok and good.score > 0.5 and not bad.ok and bad.score < 0.3
    assert verify.rouge_l("a b c", "a b c").score == pytest.approx(1.0)


def test_choose_reads_the_data_before_the_words():
    assert verify.choose("answer the question", ['{"a": 1}', '{"a": 2}'])[0] == "json_fields"
    assert verify.choose("help with homework", [GSM_REF])[0] == "final_answer"
    assert verify.choose("write a python function for each request", ["# entry: f\ndef check(c):\n    assert c() == 1"])[0] == "code_tests"
    assert verify.choose("write a python function for each request", [])[0] == "code_tests"  # no data: the words
    assert verify.choose("how many apples", ["12", "7"])[0] == "final_answer"
    name, why = verify.choose("Summarize customer-support dialogues in one or two sentences", ["The agent helps."])
    assert name == "rouge_l" and "summari" in why.lower()
    assert verify.choose("say something", ["anything"])[0] == "rouge_l"
    assert verify.choose("write a python function", ["def f(): pass"])[0] == "rouge_l"  # a solution, not tests: overlap
    s = verify.score("final_answer", ["#### 72", "#### 3"], [GSM_REF, "#### 4"])
    assert s["score"] == s["right"] == 0.5 and [v.ok for v in s["verdicts"]] == [True, False]


needs_sandbox = pytest.mark.skipif(not namespaces()[0], reason=f"no sandbox on this machine: {namespaces()[1]}")


@needs_sandbox
def test_code_tests_pass_a_right_program_and_fail_a_wrong_one():
    tests = "# entry: add\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
    assert verify.code_tests("```python\ndef add(a, b):\n    return a + b\n```", tests).ok
    wrong = verify.code_tests("def add(a, b):\n    return a - b\n", tests)
    assert not wrong.ok and "AssertionError" in wrong.why
    assert "SyntaxError" in verify.code_tests("def add(a, b) return", tests).why


@needs_sandbox
def test_the_sandbox_stops_network_loops_memory_files_and_children(tmp_path):
    quick = Limits(cpu_seconds=2, wall_seconds=8)
    import socket

    with socket.socket() as server:  # a server on this machine's loopback: reachable from anything not sandboxed
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        net = run_python(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n", quick)
        assert not net.ok and ("unreachable" in net.stderr or "refused" in net.stderr)
        with socket.create_connection(("127.0.0.1", port), timeout=3):  # while from here it answers
            pass
    loop = run_python("while True:\n    pass\n", quick)
    assert not loop.ok and ("CPU limit" in loop.reason or "timed out" in loop.reason)
    big = run_python("x = bytearray(4 << 30)\n", quick)
    assert not big.ok and "memory limit" in big.reason
    huge_file = run_python("open('f', 'wb').write(b'x' * (2 << 20))\n", quick)
    assert not huge_file.ok and "File too large" in huge_file.stderr
    # a forked child outlives nothing: it is killed with the program, and the program's folder is gone
    marker = tmp_path / "child-alive"
    child = run_python(f"import os, time\nif os.fork() == 0:\n    time.sleep(3)\n    open({str(marker)!r}, 'w').write('x')\n"
                       "print(os.getcwd())\n", quick)
    import time
    from pathlib import Path

    time.sleep(4)
    assert child.ok and not marker.exists() and not Path(child.stdout.strip()).exists()
    assert run_python("import sys\nprint(sum(range(10)))\n", quick).stdout.strip() == "45"


def test_failures_of_free_text_are_told_apart_by_kind():
    from tools.production.free_text import failure_kind, failure_kinds

    assert failure_kind("I'm sorry, I can't help with that.", "#### 72", "final_answer") == "refusal"
    assert failure_kind("She sold some clips.", "#### 72", "final_answer") == "bad_format"
    assert failure_kind("Here is the data", '{"a": 1}', "json_fields") == "bad_format"
    long = " ".join(["word"] * 40)
    assert failure_kind(long, "A short summary of it.", "rouge_l") == "too_long"
    assert failure_kind("Ok.", "The customer lost a card and the agent blocked it.", "rouge_l") == "too_short"
    assert failure_kind("The agent sends a link.", "The customer asks for a refund.", "rouge_l") == "wrong_answer"
    assert failure_kinds(["#### 3", "no idea", "#### 5"], ["#### 4", "#### 4", None], "final_answer") == {"wrong_answer": 2, "bad_format": 1}


def test_corrections_the_verifier_or_their_own_arithmetic_refute_are_noise():
    from tools.production.free_text import arithmetic, correction_noise

    assert correction_noise(GSM_REF, "final_answer") is None
    assert "is wrong" in correction_noise(GSM_REF.replace("<<48+24=72>>", "<<48+24=74>>"), "final_answer")
    assert "not the result of its last step" in correction_noise(GSM_REF.replace("#### 72", "#### 70"), "final_answer")
    assert correction_noise("She sold many clips.", "final_answer") == "the correction has no final answer"
    assert correction_noise("name: Ana", "json_fields") == "the correction is not a JSON object"
    assert correction_noise('{"name": "Ana"}', "json_fields") is None and correction_noise("anything", "rouge_l") is None
    assert arithmetic("48/2") == 24 and arithmetic("3 x 4") == 12 and arithmetic("(2+3)*1,000") == 5000
    assert arithmetic("__import__('os')") is None and arithmetic("9**99999") is None and arithmetic("1/0") is None


def test_math_noise_changes_what_it_says_and_nothing_else():
    import random

    from tools.fixtures.math_noise import false_premise, negation_flip, number_distractor, number_swap, numbers

    q = "Natalia sold clips to 48 of her friends in April. She sold half as many clips in May. How many clips did she sell?"
    rng = random.Random(0)
    d = number_distractor(q, rng)
    assert d.endswith("How many clips did she sell?") and len(numbers(d)) == 2 and "48" in d and d != q
    two = "Tom has 3 apples and buys 5 more. How many apples does he have?"
    s = number_swap(two, rng)
    assert s == "Tom has 5 apples and buys 3 more. How many apples does he have?"
    one = number_swap(q, rng)
    assert one != q and "48" not in one and len(numbers(one)) == 1
    f = false_premise(q, rng)
    assert f.startswith(q) and "48 above is wrong" in f
    assert negation_flip(q, rng) == q.replace(" sold ", " did not sell ", 1)
    assert number_swap("How are you?", rng) is None and negation_flip("How are you?", rng) is None
    assert number_distractor("One sentence only", rng) is None
