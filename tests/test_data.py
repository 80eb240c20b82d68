import json

import pytest

from tools.store.data import DataError, load_examples, load_logs


def write(tmp_path, name, content: bytes | str):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


GOOD = [
    {"id": "a", "input": "where is my card", "prediction": "card_arrival", "verdict": "pass"},
    {"id": "b", "input": "my transfer failed", "prediction": "card_arrival", "verdict": "fail", "correction": "failed_transfer",
     "feedback": "wrong intent", "timestamp": "2026-01-01T00:00:00"},
    {"id": "c", "input": "hello", "prediction": "card_arrival", "verdict": "fail"},
]


def jsonl(rows):
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def test_good_logs_load_with_labels_and_extras(tmp_path):
    logs = load_logs(write(tmp_path, "l.jsonl", jsonl(GOOD))).records
    assert [r.label for r in logs] == ["card_arrival", "failed_transfer", None]
    assert logs[1].extra == {"timestamp": "2026-01-01T00:00:00"} and logs[1].feedback == "wrong intent"
    assert [r.line for r in logs] == [1, 2, 3]


@pytest.mark.parametrize("content, line, reason", [
    (jsonl(GOOD[:1]) + '{"id": "x", "input": "trunc', 2, "not valid JSON"),
    (jsonl(GOOD[:2]) + json.dumps({"id": "x", "input": "a", "verdict": "pass"}) + "\n", 3, "missing field 'prediction'"),
    (json.dumps({**GOOD[0], "verdict": "maybe"}) + "\n", 1, "unknown verdict"),
    (jsonl(GOOD[:1]) + json.dumps({**GOOD[1], "id": "a"}) + "\n", 2, "duplicate id"),
    (json.dumps({**GOOD[0], "prediction": 3}) + "\n", 1, "non-empty label string"),
    ("", 0, "empty file"),
    ("\n\n", 0, "empty file"),
])
def test_bad_logs_name_file_line_and_reason(tmp_path, content, line, reason):
    p = write(tmp_path, "bad.jsonl", content)
    with pytest.raises(DataError) as e:
        load_logs(p, task="classification")
    assert e.value.line == line and reason in e.value.reason and e.value.path == str(p)
    assert str(p) in str(e.value)


def test_non_utf8_line_is_reported(tmp_path):
    p = write(tmp_path, "bin.jsonl", jsonl(GOOD[:1]).encode() + b'{"id": "z", "input": "caf\xe9"}\n')
    with pytest.raises(DataError) as e:
        load_logs(p)
    assert e.value.line == 2 and "UTF-8" in e.value.reason


def test_skip_bad_lines_counts_them(tmp_path):
    p = write(tmp_path, "l.jsonl", jsonl(GOOD) + "not json\n" + json.dumps({"id": "q"}) + "\n")
    loaded = load_logs(p, skip_bad=True)
    assert len(loaded.records) == 3 and [e.line for e in loaded.skipped] == [4, 5]


def test_examples_jsonl_and_csv(tmp_path):
    a = load_examples(write(tmp_path, "e.jsonl", jsonl([{"input": "hi", "output": "greet"}])))
    b = load_examples(write(tmp_path, "e.csv", 'input,output\n"hi, there",greet\n'))
    assert (a[0].input, a[0].output) == ("hi", "greet") and (b[0].input, b[0].line) == ("hi, there", 2)
    with pytest.raises(DataError, match="missing field 'output'"):
        load_examples(write(tmp_path, "x.jsonl", jsonl([{"input": "hi"}])))
