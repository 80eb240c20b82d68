"""Entity extraction: the span contract, BIO files, the entity metrics and error kinds, and the tagger."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tools.fixtures.demo import entity_sentence
from tools.store.data import DataError


def _log(i, text, pred, verdict="pass", correction=None) -> str:
    row = {"id": str(i), "input": text, "prediction": pred, "verdict": verdict}
    if correction is not None:
        row["correction"] = correction
    return json.dumps(row) + "\n"


@pytest.mark.parametrize("spans, reason", [
    ([{"start": 6, "end": 40, "label": "LOC"}], "out of range"),
    ([{"start": 0, "end": 5, "label": "PER"}, {"start": 3, "end": 9, "label": "LOC"}], "overlap"),
    ([{"start": 0, "end": 5, "label": "PER", "text": "Alicia"}], "does not match"),
    ([{"start": 0, "end": 5}], "'start', 'end' and 'label'"),
    ([{"start": "0", "end": 5, "label": "PER"}], "integers"),
])
def test_bad_spans_name_the_file_the_line_and_the_reason(tmp_path, spans, reason, capsys):
    from graph.cli import main
    from tools.store.data import load_logs

    f = tmp_path / "logs.jsonl"
    ok = [{"start": 0, "end": 5, "label": "PER"}]
    f.write_text(_log(1, "Alice flew to Paris", ok) + _log(2, "Alice flew to Paris", ok, "fail", spans))
    with pytest.raises(DataError, match=reason) as e:
        load_logs(f, task="ner")
    assert e.value.line == 2 and e.value.path == str(f) and "correction" in str(e.value)
    assert main(["improve", "--model", str(tmp_path), "--logs", str(f), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{f}:2" in err and reason in err and not (tmp_path / "run").exists()
    # as they come: order and extra keys do not matter once loaded
    f.write_text(_log(1, "Alice flew to Paris", [{"label": "LOC", "end": 19, "start": 14, "text": "Paris"}, ok[0]]))
    assert load_logs(f, task="ner").records[0].prediction == [ok[0], {"start": 14, "end": 19, "label": "LOC"}]


def test_conll_files_tag_first_or_token_first_iob1_or_iob2_read_as_the_same_spans(tmp_path):
    from tools.coldstart.sources import load_source
    from tools.kinds.spans import from_tags, to_tags, words

    iob2 = "Alice\tB-PER\nSmith\tI-PER\nmet\tO\nBob\tB-PER\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n\nhi\tO\n"
    iob1 = "Alice\tI-PER\nSmith\tI-PER\nmet\tO\nBob\tI-PER\nin\tO\nNew\tI-LOC\nYork\tI-LOC\n\nhi\tO\n"
    tag_first = "".join(("\t".join(reversed(l.split("\t"))) if l else "") + "\n" for l in iob2.split("\n")[:-1])
    got = []
    for name, body in (("a.conll", iob2), ("b.conll", iob1), ("c.bio", tag_first)):
        (tmp_path / name).write_text(body)
        got.append([(e.input, e.output) for e in load_source(tmp_path / name).examples])
    assert got[0] == got[1] == got[2]
    text, spans = got[0][0]
    assert text == "Alice Smith met Bob in New York"
    assert [text[s["start"]:s["end"]] for s in spans] == ["Alice Smith", "Bob", "New York"]
    # IOB1 keeps two adjacent entities of one type apart with B-
    adjacent = from_tags([(0, 3), (4, 7)], ["I-PER", "B-PER"])
    assert len(adjacent) == 2
    assert to_tags(text, spans, words(text)) == ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"]


@pytest.mark.parametrize("text, entity", [("Apple's shares rose", "Apple"), ("a New York-based firm", "New York"),
                                          ("the U.S. team", "U.S."), ("mail bob@acme.com today", "acme.com")])
def test_spans_ending_before_punctuation_survive_the_word_tags(text, entity):
    from tools.kinds.spans import from_tags, to_tags, words

    start = text.index(entity)
    spans = [{"start": start, "end": start + len(entity), "label": "X"}]
    assert from_tags(words(text), to_tags(text, spans)) == spans


def test_entity_metrics_match_seqeval_and_errors_are_broken_down_by_kind():
    from seqeval.metrics import f1_score, precision_score, recall_score

    from tools.kinds.spans import entity_metrics, error_breakdown, errors, from_tags, to_tags, words

    rng = random.Random(0)
    texts, truth, pred = [], [], []
    for _ in range(200):
        n = rng.randint(3, 9)
        text = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "pi"]) for _ in range(n))
        offs = words(text)
        tags = lambda: [rng.choice(["O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG"]) for _ in offs]  # noqa: E731
        texts.append(text)
        truth.append(from_tags(offs, tags()))
        pred.append(from_tags(offs, tags()))
    m = entity_metrics(truth, pred)
    y_t = [to_tags(t, s) for t, s in zip(texts, truth)]
    y_p = [to_tags(t, s) for t, s in zip(texts, pred)]
    assert m["f1"] == pytest.approx(f1_score(y_t, y_p), abs=1e-4)
    assert m["precision"] == pytest.approx(precision_score(y_t, y_p), abs=1e-4)
    assert m["recall"] == pytest.approx(recall_score(y_t, y_p), abs=1e-4)

    text = "Apple hired Tim Cook in New York City"
    t = [{"start": 0, "end": 5, "label": "ORG"}, {"start": 12, "end": 20, "label": "PER"}, {"start": 24, "end": 37, "label": "LOC"}]
    p = [{"start": 0, "end": 5, "label": "PER"}, {"start": 16, "end": 20, "label": "PER"}, {"start": 6, "end": 11, "label": "ORG"}]
    kinds = sorted((e["kind"], e["type"]) for e in errors(text, t, p))
    assert kinds == [("boundary", "PER"), ("false_negative", "LOC"), ("false_positive", "ORG"), ("type", "ORG")]
    b = error_breakdown([text], [t], [p])
    assert b["total"] == {"false_positive": 1, "false_negative": 1, "boundary": 1, "type": 1}
    assert b["per_type"]["ORG"] == {"false_positive": 1, "false_negative": 0, "boundary": 0, "type": 1}


def test_a_tiny_tagger_learns_spans_and_loads_with_plain_transformers(tmp_path, tiny_base):
    from transformers import AutoModelForTokenClassification

    from tools.kinds.spans import entity_metrics
    from tools.models.classifier import TrainConfig
    from tools.models.tagger import entity_types, predict_spans, set_threshold, tag_set, teacher_probs, train_tagger

    rng = random.Random(0)
    names, cities = ["alice", "bob", "carol", "dave"], ["paris", "rome", "oslo", "lima"]
    texts, spans = [], []
    for _ in range(120):
        a, c = rng.choice(names), rng.choice(cities)
        text = f"{a} flew to {c} today"
        texts.append(text)
        spans.append([{"start": 0, "end": len(a), "label": "PER"}, {"start": len(a) + 9, "end": len(a) + 9 + len(c), "label": "LOC"}])
    out = tmp_path / "tagger"
    summary = train_tagger(tiny_base, texts, spans, ["PER", "LOC"], out, TrainConfig(epochs=8, learning_rate=3e-3, batch_size=16))
    assert summary["curve"][-1]["loss"] < summary["curve"][0]["loss"]
    pred = predict_spans(out, texts[:40])
    assert entity_metrics(spans[:40], pred)["f1"] > 0.9
    assert entity_types(out) == ["LOC", "PER"]
    model = AutoModelForTokenClassification.from_pretrained(out)
    assert set(model.config.id2label.values()) == {"O", "B-LOC", "I-LOC", "B-PER", "I-PER"}
    # a threshold near zero keeps only the surest words: fewer spans, none invented
    set_threshold(out, 1e-9)
    assert sum(map(len, predict_spans(out, texts[:40]))) < sum(map(len, pred))

    # a warm start keeps the tagger's rows of the tags it knows, and a new type starts fresh
    import torch

    from tools.models.tagger import spans_and_margins
    from tools.models.warm import load_start

    warm = load_start(AutoModelForTokenClassification, out, tag_set(["LOC", "ORG", "PER"]))
    new_tags = [warm.config.id2label[i] for i in range(warm.config.num_labels)]
    for tag in ("O", "B-PER", "I-LOC"):
        assert torch.equal(warm.classifier.weight[new_tags.index(tag)], model.classifier.weight[list(model.config.id2label.values()).index(tag)])
    # one pass gives the spans and each sentence's least certain word: the sure sentences have wide margins
    set_threshold(out, None)
    got, margins = spans_and_margins(out, texts[:40] + ["zzz"])
    assert got[:40] == predict_spans(out, texts[:40]) and all(0.0 <= m <= 1.0 for m in margins)
    assert sorted(margins[:40])[20] > 0.5

    # the deployed tagger as a teacher: its probabilities only on the words it tags right
    tags = tag_set(["LOC", "PER"])
    wrong = [{**spans[0][0], "label": "LOC"}, spans[0][1]]  # a judge who says the person is a place
    t_right, t_wrong = teacher_probs(out, texts[:1] * 2, [spans[0], wrong], tags)
    assert t_right.sum(1) == pytest.approx([1.0] * 5, abs=1e-4)  # "<name> flew to <city> today": all 5 words right
    assert t_wrong[0].sum() == 0 and t_wrong[1:].sum() > 0
    # distillation pulls the student to the teacher: a teacher that puts every word on "O" keeps spans out
    all_o = [np.eye(len(tags), dtype=np.float32)[[0] * len(t.split())] for t in texts]
    cfg = TrainConfig(epochs=3, learning_rate=3e-3, batch_size=16)
    plain = train_tagger(tiny_base, texts, spans, ["PER", "LOC"], tmp_path / "plain", cfg)
    taught = train_tagger(tiny_base, texts, spans, ["PER", "LOC"], tmp_path / "taught", TrainConfig(**{**cfg.__dict__, "distill_weight": 0.9}),
                          teacher=all_o)
    assert plain["examples"] == taught["examples"]
    n_plain, n_taught = (sum(map(len, predict_spans(tmp_path / d, texts[:40]))) for d in ("plain", "taught"))
    assert n_taught < n_plain


# ------------------------------------------------------------------ production mode, end to end

@pytest.fixture(scope="module")
def entity_deployment(tmp_path_factory, tiny_base):
    from tools.fixtures.simulate import simulate_entity_deployment
    from tools.models.classifier import TrainConfig

    rng = random.Random(0)
    d = tmp_path_factory.mktemp("ner-deployment")
    parent = [entity_sentence(rng) for _ in range(20)]
    traffic = [entity_sentence(rng) for _ in range(260)]
    test = [entity_sentence(rng) for _ in range(60)]
    info = simulate_entity_deployment(d, ["LOC", "ORG", "PER"], parent, traffic, test, seed=0, wrong_rate=0.1, poison_rate=0.04,
                                      base=tiny_base, deployed_config=TrainConfig(epochs=8, learning_rate=3e-3, batch_size=16))
    return d, info


def test_production_mode_improves_an_entity_extractor_and_reports_error_kinds(entity_deployment, tiny_base, tmp_path, capsys):
    from graph.cli import main
    from tools.kinds.spans import entity_metrics
    from tools.models.tagger import predict_spans
    from tools.store.data import read_jsonl

    d, info = entity_deployment
    assert 0 < info["deployed_sentence_accuracy_on_traffic"] < 0.9
    run = tmp_path / "run"
    code = main(["improve", "--model", str(d / "deployed"), "--logs", str(d / "logs.jsonl"), "--train-data", str(d / "parent.jsonl"),
                 "--base", tiny_base, "--out", str(run), "--epochs", "10", "--learning-rate", "3e-3", "--max-iterations", "2",
                 "--max-flips", "5", "--quiet"])
    assert code == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["task"] == "ner"
    # the diagnosis: error kinds counted, patterns named by kind and type, wrong corrections and poison left out
    errs = rep["baseline"]["errors"]["total"]
    assert set(errs) == {"false_positive", "false_negative", "boundary", "type"} and sum(errs.values()) > 0
    assert {c["error_kind"] for c in rep["clusters"]} <= set(errs) and rep["clusters"][0]["size"] >= rep["clusters"][-1]["size"]
    key = {k["id"]: k for k in read_jsonl(d / "key.jsonl")}
    excluded = {e["id"]: e for e in rep["excluded"]}
    poison = [i for i, k in key.items() if k["noise"] in ("injection", "gibberish")]
    assert poison and all(excluded[i]["category"] == "poison" for i in poison)
    noise_ids = [i for i, e in excluded.items() if e["reason"] == "contradicts_trusted_labels"]
    assert noise_ids and sum(key[i]["noise"] == "wrong_correction" for i in noise_ids) / len(noise_ids) >= 0.5
    # every attempt went through the gate; the report says what happened, in both files
    assert rep["iterations"] and all("negative_flips" in e["gate"] for e in rep["iterations"])
    # no mix holds the regression set or the held-out failures, the refit's neither; the tuning split only the refit's
    splits = json.loads((run / "work" / "splits.json").read_text())
    for e in rep["iterations"]:
        refs = {r["ref"] for r in read_jsonl(e["mix_file"])}
        assert not refs & (set(splits["regression"]) | set(splits["held_out_failures"])), e["strategy"]
        assert e["stage"] == "final" or not refs & set(splits.get("tuning", [])), e["strategy"]
    md = (run / "report.md").read_text()
    assert "Errors by kind" in md and "entity F1 on usable logs" in md
    # the deployed tagger ran once per text, for the diagnosis, the churn and every candidate's teacher alike
    from tools.models.tagger import word_probs
    from tools.store.workspace import Workspace

    seen = [t for t, _ in json.loads((run / "work" / "deployed_word_probs_by_text.json").read_text())]
    logs, parent = [r["input"] for r in read_jsonl(d / "logs.jsonl")], [r["input"] for r in read_jsonl(d / "parent.jsonl")]
    assert len(seen) == len(set(seen)) and set(logs) | set(parent) <= set(seen)
    kept = Workspace(run).blocks_by_text("deployed_word_probs_by_text", logs[:5], lambda new: pytest.fail(f"recomputed {new}"))
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(kept, word_probs(d / "deployed", logs[:5])[0]))
    if rep["promoted"]:
        assert rep["final"]["entity_f1_on_logs"] > rep["baseline"]["entity_f1_on_logs"]
        assert rep["gate"]["negative_flips"] <= 5 and (run / "model" / "config.json").exists()
        test = read_jsonl(d / "test.jsonl")
        before = entity_metrics([r["output"] for r in test], predict_spans(d / "deployed", [r["input"] for r in test]))["f1"]
        after = entity_metrics([r["output"] for r in test], predict_spans(run / "model", [r["input"] for r in test]))["f1"]
        assert after > before
    else:
        assert "nothing promoted" in rep["outcome"]
    # pioneer eval and predict know a token-classification model
    capsys.readouterr()
    assert main(["eval", "--model", str(d / "deployed"), "--data", str(d / "test.jsonl")]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"f1", "precision", "recall", "per_type", "errors"} <= m.keys()
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "a", "input": "alice flew to paris"}) + "\n")
    assert main(["predict", "--model", str(d / "deployed"), "--input", str(tmp_path / "in.jsonl")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == "a" and isinstance(out["prediction"], list)


def test_triage_and_mix_follow_the_trusted_data():
    from tools.production.entities import EntityTriageSettings, build_mix, contradictions, lexicon
    from tools.store.data import LogRecord

    sp = lambda a, b, t: {"start": a, "end": b, "label": t}  # noqa: E731
    trusted = [(f"meet {w} in paris", [sp(5, 5 + len(w), "PER"), sp(9 + len(w), 14 + len(w), "LOC")], f"t{k}")
               for k, w in enumerate(["ann", "bo", "cy", "di"])]
    trusted.append(("apple pie in paris", [sp(13, 18, "LOC")], "t9"))
    lex = lexicon([(t, s) for t, s, _ in trusted])
    cfg = EntityTriageSettings()
    # paris is settled as LOC (5 of 5): a correction that retypes it, or deletes a found paris, contradicts it
    retyped = LogRecord("1", "fly to paris", [], "fail", [sp(7, 12, "ORG")])
    deleted = LogRecord("2", "fly to paris", [sp(7, 12, "LOC")], "fail", [])
    fine = LogRecord("3", "fly to lima", [], "fail", [sp(7, 11, "LOC")])
    assert contradictions(retyped, lex, cfg) and contradictions(deleted, lex, cfg) and not contradictions(fine, lex, cfg)
    # precision errors: trusted sentences that hold the falsely predicted word outside any entity
    gold = [("apple store hours", [], "g1")]
    mix = build_mix(gold, trusted, ["apple"], gold_repeat=2, hard_negatives=3, exclude={"meet ann in paris"})
    assert mix.composition == {"gold": 2, "hard_negative": 1, "retained": 4}
    assert not any(r["input"] == "meet ann in paris" for r in mix.rows)
    assert [r["input"] for r in mix.rows if r["source"] == "hard_negative"] == ["apple pie in paris"]


# ------------------------------------------------------------------ cold start


def test_cold_start_trains_an_entity_model_from_conll_files(tmp_path, tiny_base):
    from graph.cli import main
    from tools.kinds.spans import check, to_tags, words
    from tools.models.tagger import predict_spans
    from tools.store.data import read_jsonl

    rng = random.Random(1)
    d = tmp_path / "travel"
    d.mkdir()
    for name, n in (("train.conll", 150), ("test.conll", 40)):
        lines = []
        for _ in range(n):
            text, spans = entity_sentence(rng)
            offs = words(text)
            lines += [f"{text[a:b]}\t{t}" for (a, b), t in zip(offs, to_tags(text, spans, offs))] + [""]
        (d / name).write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    code = main(["new", "Find the people, companies and places in travel messages", "--data", str(d), "--base", tiny_base,
                 "--out", str(run), "--budget-minutes", "10", "--max-iterations", "2", "--quiet"])
    assert code == 0
    rep = json.loads((run / "report.json").read_text())
    assert rep["task"] == "ner" and rep["spec"]["labels"] == ["LOC", "ORG", "PER"] and rep["spec"]["metric"] == "entity_f1"
    ev = rep["evaluation_set"]
    assert ev["origin"] == "the sources' test split" and 30 <= ev["n"] <= 40 and ev["labels_covered"] == 3  # duplicates go
    assert "dictionary" in rep["baseline"]["method"] or "entity names" in rep["baseline"]["method"]
    assert 0 <= rep["baseline"]["f1"] <= 1 and rep["final"]["score"] == rep["final"]["f1"]
    assert rep["gain_over_baseline"] == round(rep["final"]["f1"] - rep["baseline"]["f1"], 4)
    assert all(0 <= e["score"] <= 1 for e in rep["iterations"])
    # the frozen set never reaches training; the model answers with valid spans
    frozen = {r["input"] for r in read_jsonl(run / "eval_set.jsonl")}
    assert not frozen & {r["input"] for r in read_jsonl(run / "work" / "train.jsonl")}
    texts = sorted(frozen)[:10]
    assert all(check(t, s) is None for t, s in zip(texts, predict_spans(run / "model", texts)))
    assert "entity F1" in (run / "report.md").read_text()
