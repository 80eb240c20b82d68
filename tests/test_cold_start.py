"""Cold-start mode: data formats, task understanding, the frozen evaluation set, the search policy, and
`pioneer new` end to end with a tiny model (real training, real chromadb memory)."""

from __future__ import annotations

import json
import random

import pytest

from tools.store.data import DataError


def _write(path, text: str, encoding: str = "utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------------ sources


def test_sources_read_the_common_formats_with_their_splits(tmp_path):
    from tools.coldstart.sources import load_source

    csv_dir = tmp_path / "csvset"
    _write(csv_dir / "train.csv", "text,category\nhow do i pay,payment\nwhere is my card,card\n")
    _write(csv_dir / "test.csv", "text,category\nmy card is lost,card\n")
    _write(csv_dir / "SOURCE.md", "# Bank questions\n")
    s = load_source(csv_dir)
    assert s.format == "csv" and s.kind == "classification"
    assert {k: len(v) for k, v in s.splits.items()} == {"test": 1, "train": 2}
    assert s.labels == ["card", "payment"] and s.card.startswith("# Bank")

    aligned = tmp_path / "aligned" / "train"
    _write(aligned / "seq.in", "play jazz\nwill it rain\n")
    _write(aligned / "label", "PlayMusic\nGetWeather\n")
    _write(aligned / "seq.out", "O B-genre\nO O O\n")
    s = load_source(tmp_path / "aligned")
    assert s.format == "aligned" and [(e.input, e.output) for e in s.splits["train"]] == [("play jazz", "PlayMusic"), ("will it rain", "GetWeather")]

    lines = "".join(f"{'NUM:dist' if i % 2 else 'HUM:ind'} question number {i} caf\xe9 ?\n" for i in range(12))
    _write(tmp_path / "qs" / "QS.train", lines, encoding="latin-1")
    s = load_source(tmp_path / "qs")
    assert s.format == "label_first" and set(s.labels) == {"NUM:dist", "HUM:ind"} and "train" in s.splits
    assert any("Latin-1" in n for n in s.notes) and "café" in s.examples[0].input

    _write(tmp_path / "ner" / "dev.bio", "B-Rating\tfour\nI-Rating\tstar\nO\tplace\n\nO\tcheap\nB-Cuisine\tthai\n\n")
    s = load_source(tmp_path / "ner")
    assert s.kind == "ner" and s.splits["validation"][0].output == [{"start": 0, "end": 9, "label": "Rating"}]
    assert s.examples[1].input[6:10] == "thai"


def test_unreadable_data_names_file_and_line(tmp_path):
    from tools.coldstart.sources import load_source

    _write(tmp_path / "d" / "train.jsonl", '{"text": "ok", "label": "a"}\n{"text": "broken"\n')
    with pytest.raises(DataError) as e:
        load_source(tmp_path / "d")
    assert e.value.line == 2 and "train.jsonl" in e.value.path
    _write(tmp_path / "e" / "train.csv", "foo,bar\n1,2\n")
    with pytest.raises(DataError, match="no input/output columns"):
        load_source(tmp_path / "e")
    with pytest.raises(DataError, match="no data files"):
        load_source(_write(tmp_path / "empty" / "LICENSE", "mit").parent)


# ------------------------------------------------------------------ task understanding


def test_task_spec_from_flags_data_and_description():
    from tools.coldstart.taskspec import TaskError, infer_task, map_label

    spec = infer_task("sort questions", ["classification"], ["card", "oos", "payment"])
    assert spec.kind == "classification" and spec.labels == ["card", "oos", "payment"] and spec.out_of_scope == ["oos"]
    assert spec.decided_by == {"kind": "data", "labels": "data"}
    # LABEL:sub labels: a description naming the coarse labels chooses the coarse level
    fine = ["NUM:dist", "NUM:date", "HUM:ind", "LOC:city", "DESC:def"]
    spec = infer_task("Classify questions by answer type: number, human, location, description", ["classification"], fine)
    assert spec.labels == ["DESC", "HUM", "LOC", "NUM"] and spec.label_level == "coarse"
    assert map_label("NUM:dist", spec.labels, spec.label_level) == "NUM"
    assert infer_task("what kind of question is it", ["classification"], fine).labels == sorted(fine)
    # nothing to go on: the error names the flag that settles it
    with pytest.raises(TaskError, match="--kind"):
        infer_task("make it good", [], [])
    with pytest.raises(TaskError, match="--labels"):
        infer_task("classify support tickets", [], [])
    spec = infer_task("classify support tickets", [], [], labels=["billing", "bug"])
    assert spec.decided_by == {"kind": "description", "labels": "flag"}


# ------------------------------------------------------------------ evaluation set


def _rows(n_per_label: int, labels=("alpha", "beta", "gamma"), seed=0):
    rng = random.Random(seed)
    words = {"alpha": "apple apricot avocado", "beta": "banana berry bean", "gamma": "grape guava garlic"}
    return [(f"{rng.choice(words[l].split())} {rng.choice(words[l].split())} item {i}", l, "src")
            for l in labels for i in range(n_per_label)]


def test_eval_set_covers_every_label_is_never_trained_on_and_is_frozen(tmp_path):
    from tools.coldstart import evalset as es

    pool = _rows(20)
    sp = es.build(pool, [], ["alpha", "beta", "gamma"], [], seed=0)
    assert set(sp.makeup["per_label"]) == {"alpha", "beta", "gamma"} and sp.makeup["boundary"] > 0
    ev = {r["input"] for r in sp.eval}
    assert not ev & {t for t, _, _ in sp.train} and not ev & {t for t, _, _ in sp.dev}
    assert len(sp.eval) + len(sp.dev) + len(sp.train) == len(pool)
    # the dev split is made like the evaluation set: as many rows near a confusable label's boundary, a test split
    # sampled at random gets a dev split sampled at random
    carved = es.build(_rows(60), [], ["alpha", "beta", "gamma"], [], seed=0).makeup["near_boundary"]
    rnd = es.build(_rows(60), _rows(10, seed=1), ["alpha", "beta", "gamma"], [], seed=0).makeup["near_boundary"]
    assert carved["eval"] >= 0.3 and carved["dev"] >= 0.3 and abs(carved["eval"] - carved["dev"]) <= 0.2
    assert rnd["dev"] < carved["dev"] - 0.1
    # a test split becomes the evaluation set, and its copies leave the training pool
    test = [pool[0], ("a fresh apple line", "alpha", "src"), ("berry bean thing", "beta", "src"), ("guava only", "gamma", "src")]
    sp2 = es.build(pool, test, ["alpha", "beta", "gamma"], [], seed=0)
    assert sp2.makeup["origin"] == "the sources' test split" and len(sp2.eval) == 4
    assert pool[0][0] not in {t for t, _, _ in sp2.train + sp2.dev}

    digest = es.freeze(tmp_path, sp)
    assert len(es.load_frozen(tmp_path)) == len(sp.eval) and len(digest) == 64
    with (tmp_path / "eval_set.jsonl").open("a") as fh:
        fh.write(json.dumps({"input": "sneaked in", "output": "alpha", "tags": []}) + "\n")
    with pytest.raises(DataError, match="changed after it was frozen"):
        es.load_frozen(tmp_path)

    with pytest.raises(DataError, match="fewer than two examples"):
        es.build(pool + [("lonely", "delta", "src")], [], ["alpha", "beta", "gamma", "delta"], [])


# ------------------------------------------------------------------ search policy


def test_the_baseline_survey_sets_the_target_from_a_linear_probe_and_says_where_it_came_from():
    from tools.coldstart import survey as sv

    refs = (("a", 0.8, 0.9), ("b", 0.9, 0.95), ("c", 0.5, 0.9))  # fine-tuning removed 50%, 50% and 80% of the probe's errors
    assert sv.error_share(refs) == 0.5
    s = sv.calibrate(0.7, None, refs)
    assert (s.source, s.target, s.probe, s.share) == ("survey", 0.85, 0.7, 0.5) and "0.700" in s.why and "a, b, c" in s.why
    assert sv.calibrate(0.999, None, refs).target == sv.TARGET_MAX and sv.calibrate(0.0, None, (("a", 0.5, 0.6),)).target == sv.TARGET_MIN
    assert (sv.calibrate(0.7, 0.9, refs).target, sv.calibrate(0.7, 0.9, refs).source) == (0.9, "user")
    assert (sv.calibrate(None, None, refs).target, sv.calibrate(None, None, refs).source) == (sv.PAPER_TARGET, "paper default")
    assert sv.calibrate(0.7, None, ()).source == "paper default"  # no references: nothing to calibrate with
    assert sv.error_share() is not None  # the shipped references calibrate
    # the probe itself: logistic regression on MiniLM's frozen embeddings, scored on the dev rows
    from tools.coldstart.probe import linear_probe

    train = [(f"play some {g} music please", "music") for g in ("jazz", "rock", "pop", "folk", "blues", "soul")] + \
            [(f"what is the weather in {c} today", "weather") for c in ("Paris", "Oslo", "Lima", "Rome", "Cairo", "Tokyo")]
    dev = [("put on some reggae music", "music"), ("will it rain in Berlin tomorrow", "weather")]
    assert linear_probe(train, dev, None) == 1.0
    assert linear_probe(train, [("will it rain in Berlin tomorrow", "music")], None) == 0.0
    assert linear_probe(train[:6], dev, None) is None  # one label: nothing to fit


def test_the_mean_probe_head_starts_a_plain_bert_classifier_as_the_linear_probe_on_the_mean_embedding(tmp_path, tiny_base):
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tools.coldstart.probe import C
    from tools.models import mean_head
    from tools.models.classifier import TrainConfig, predict_proba, train_classifier
    from tools.models.embed import embed, minilm_path

    texts = ["play some jazz music please", "put on a rock song", "what is the weather in Paris today", "will it rain in Oslo",
             "turn on the lights", "switch off the kitchen lamp"]
    labels = ["lights", "music", "weather"]
    targets = ["music", "music", "weather", "weather", "lights", "lights"]
    tok = AutoTokenizer.from_pretrained(minilm_path())
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=3)
    mean_head.add_mean_layer(model)
    assert model.config.num_hidden_layers == 7
    # the first token now carries the sentence embedding MiniLM was trained for (the mean of its states)
    cos = (torch.nn.functional.normalize(torch.from_numpy(mean_head.pooled(model, tok, texts)), dim=-1).numpy() * embed(texts)).sum(1)
    assert cos.min() > 0.99
    assert mean_head.probe_head(model, tok, texts, targets, labels) == 1.0
    feats = mean_head.pooled(model, tok, texts)
    clf = LogisticRegression(max_iter=2000, C=C).fit(feats, [labels.index(t) for t in targets])
    with torch.inference_mode():
        logits = model.eval()(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()
    assert np.allclose(logits, clf.decision_function(feats), atol=1e-3)  # the classifier is the probe

    # trained through the classifier backend: a plain transformers folder, one layer deeper than its base
    out = tmp_path / "clf"
    summary = train_classifier(tiny_base, texts, targets, labels, out, TrainConfig(epochs=1, batch_size=4, head="mean-probe"))
    assert summary["head"] == "mean-probe"
    assert AutoModelForSequenceClassification.from_pretrained(out).config.num_hidden_layers == 3
    assert predict_proba(out, texts)[0].shape == (6, 3)
    with pytest.raises(ValueError, match="head"):
        train_classifier(tiny_base, texts, targets, labels, tmp_path / "bad", TrainConfig(epochs=1, head="mean"))


def test_the_contrastive_stage_pulls_a_labels_rows_together_and_pushes_other_labels_apart(tmp_path, tiny_base):
    """SetFit's first stage: after it, rows of one label are closer (mean-pooled cosine) than rows of two labels."""
    import random

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tools.models.classifier import TrainConfig, train_classifier
    from tools.models.contrastive import contrastive_stage, pairs

    targets = ["a", "a", "a", "b", "b", "c"]
    plan = pairs(targets, random.Random(0))
    assert len(plan) == 6 and all((targets[i] == targets[j]) == (y == 1.0) and i != j for i, j, y in plan)
    assert {y for _, _, y in plan} == {0.0, 1.0}
    assert [y for i, _, y in plan if i == 5] == [0.0]  # "c" has no other row: paired with another label
    assert {y for _, _, y in pairs(["a", "a", "a"], random.Random(0))} == {1.0}  # one label: positives only

    texts = ["play some jazz music", "put on a rock song", "play the new album", "what is the weather in Paris",
             "will it rain in Oslo", "is it sunny in Rome", "turn on the lights", "switch off the lamp"]
    targets = ["music"] * 3 + ["weather"] * 3 + ["lights"] * 2
    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_base, num_labels=3)

    def margin():
        with torch.inference_mode():
            b = tok(texts, padding=True, return_tensors="pt")
            h = model.base_model.eval()(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        sim = e @ e.T
        same = [sim[i, j] for i in range(8) for j in range(8) if i != j and targets[i] == targets[j]]
        other = [sim[i, j] for i in range(8) for j in range(8) if targets[i] != targets[j]]
        return float(sum(same) / len(same) - sum(other) / len(other))

    before = margin()
    curve = contrastive_stage(model, tok, texts, targets, epochs=30, learning_rate=1e-3, batch_size=4)
    assert len(curve) == 30 and curve[-1]["loss"] < curve[0]["loss"]
    assert margin() > before + 0.1
    # through the classifier backend: the stage runs first and its curve is in the training summary
    summary = train_classifier(tiny_base, texts, targets, ["lights", "music", "weather"], tmp_path / "clf",
                               TrainConfig(epochs=1, batch_size=4, head="mean-probe", contrastive_epochs=2))
    assert [c["epoch"] for c in summary["contrastive"]] == [1, 2] and summary["head"] == "mean-probe"


def test_search_changes_data_then_optimization_then_targets_confusions_and_stops():
    from tools.coldstart import search as sr

    cfg = sr.SearchSettings(target=0.96, max_iterations=5, budget_minutes=60, first_cap=100)
    first, _ = sr.first(1000, 10, cfg)
    assert len(first) == 2 and first[0]["data"]["per_label"] == 10
    entry = lambda it, score, c: {"iteration": it, "score": score, "seconds": 10, "examples": 100, "config": c, "strategy": c["name"]}  # noqa: E731
    low, why = sr.revise(entry(1, 0.7, first[0]), 2, [])
    assert low[0]["data"]["per_label"] == 30 and low[1]["data"]["augment"] == 1 and "data" in why
    mid, why = sr.revise(entry(2, 0.9, low[0]), 3, [])
    assert mid[0]["train"]["learning_rate"] > low[0]["train"]["learning_rate"] and mid[1]["train"]["epochs"] == low[0]["train"]["epochs"] + 2
    assert mid[1]["train"]["label_smoothing"] == 0.1 and mid[0]["train"]["label_smoothing"] == 0.0
    assert sr.revise(entry(2, 0.9, low[0]), 3, [], entities=True)[0][1]["train"]["label_smoothing"] == 0.0  # a tagger's loss has none
    high, why = sr.revise(entry(3, 0.955, mid[0]), 4, [("a", "b", 5)])
    assert high[0]["data"]["focus"] == [["a", "b"]]
    rows = sr.training_rows([("x1", "a"), ("x2", "a"), ("y", "b"), ("z", "c")], high[0]["data"])
    assert sum(l == "a" for _, l in rows) == 4 and sum(l == "c" for _, l in rows) == 1

    # an edit already trained is not trained again: after a rolled-back iteration, the next band's edits
    best = entry(3, 0.955, mid[0])
    again, why = sr.revise(best, 5, [("a", "b", 5)], tried=[mid[0], *high])
    assert again and all(c["data"]["focus"] == [] for c in again) and "targeted edits of" in why and "tried" in why
    assert again[0]["train"]["learning_rate"] > mid[0]["train"]["learning_rate"]
    data, why = sr.revise(best, 6, [("a", "b", 5)], tried=[mid[0], *high, *again])
    assert len(data) == 1 and data[0]["data"]["augment"] == 1 and "change the data" in why  # more data: it has all of it
    assert sr.revise(best, 7, [("a", "b", 5)], tried=[mid[0], *high, *again, *data]) == ([], "every edit of lr1e-4>2a>3a was tried")
    # the memory's configurations carry "with_dev": False, a fresh edit has no such key: the same edit all the same
    remembered_high = [{**c, "data": {**c["data"], "with_dev": False}} for c in high]
    assert all(c["data"]["focus"] == [] for c in sr.revise(best, 5, [("a", "b", 5)], tried=[mid[0], *remembered_high])[0])
    # a kind's own first attempts: classification's fine-tunes the linear probe's head beside the plain recipe
    from tools.kinds import get

    probe_first, why = sr.first(1000, 10, cfg, attempts=get("classification").first_attempts)
    assert probe_first[0]["train"]["head"] == "mean-probe" and probe_first[1]["train"]["head"] == "first-token"
    assert "probe-head and lr1e-4" in why

    hist = [entry(1, 0.97, first[0])]
    # the target alone does not stop the search: met, it stops once an iteration gains too little
    assert sr.stop(hist, cfg, 1.0) is None and sr.stop(hist + [entry(2, 0.975, mid[0])], cfg, 1.0) is None
    assert "target reached" in sr.stop(hist + [entry(2, 0.975, mid[0]), entry(3, 0.9751, mid[0])], cfg, 1.0)
    # the memory's strategy is tried on the capped share first, like the default
    remembered = {**mid[1], "name": "old-run:lr1e-4>3b"}
    firsts, why = sr.first(1000, 10, cfg, remembered)
    assert firsts[0]["name"] == "memory:lr1e-4>3b" and firsts[0]["data"]["per_label"] == 10 and firsts[0]["train"]["epochs"] == 6
    # a remembered strategy that is the default itself is paired with the other default, not trained twice
    same, _ = sr.first(1000, 10, cfg, {**first[0], "name": "old:lr1e-4"})
    assert [c["name"] for c in same] == ["memory:lr1e-4", "lr3e-4"]
    # the final refit: on train + dev, unchanged, when it fits (10 s per 400 example-epochs: 1,100 x 4 takes 110 s)
    again, why = sr.refit(hist[0], hist, 1000, 100, 10, 2.0)
    assert again["data"] == {"per_label": None, "augment": 0, "focus": [], "with_dev": True} and again["train"] == first[0]["train"]
    assert again["name"] == "lr1e-4:train+dev" and "development" in why
    # else, for a capped attempt, on all the training data with fewer epochs; a full-data attempt is then not refit
    again, why = sr.refit(hist[0], hist, 1000, 100, 10, 1.5)
    assert again["data"]["with_dev"] is False and again["data"]["per_label"] is None and again["train"]["epochs"] == 3 and "capped" in why
    assert sr.refit(entry(3, 0.9, mid[0]), hist, 1000, 100, 10, 1.5) == (None, "")
    # which becomes the final model: a train+dev refit unless it fits the dev split worse than the selection did
    sel = {**entry(1, 0.97, first[0]), "stage": "search"}
    ref = lambda score, dev: {**entry(2, score, {**again, "data": {**again["data"], "with_dev": dev}}), "stage": "refit", "strategy": "r"}  # noqa: E731
    assert sr.final_choice([sel, ref(0.99, True)])[0]["strategy"] == "r"
    chosen, why = sr.final_choice([sel, ref(0.95, True)])
    assert chosen is sel and "below" in why
    assert sr.final_choice([sel, ref(0.95, False)])[0] is sel and sr.final_choice([sel, ref(0.98, False)])[0]["strategy"] == "r"
    hist = [entry(i, 0.9, first[0]) for i in (1, 2, 3)]
    assert "plateau" in sr.stop(hist, cfg, 1.0)
    assert sr.stop(hist[:1], cfg, 1.0) is None
    # 10 s for 100 examples x 4 epochs: all 1,000 examples for 4 and 6 epochs take 100 + 150 s
    assert sr.estimate_minutes(hist[:1], mid, 1000, 10) == pytest.approx(250 / 60)
    assert sr.estimate_minutes(hist[:1], first, 1000, 10) == pytest.approx(2 * 10 / 60)
    # focus doubles the confused labels' rows: 2 of 10 labels in focus, 1,200 rows for 4 epochs
    assert sr.estimate_minutes(hist[:1], [{**mid[0], "data": {**mid[0]["data"], "focus": [["a", "b"], ["b", "a"]]}}], 1000, 10) == pytest.approx(120 / 60)
    # the budget: as they are when they fit, fewer epochs when that fits, else nothing
    assert sr.fit_to_budget(mid, hist[:1], 1000, 10, 5.0) == (mid, "")
    fitted, note = sr.fit_to_budget(mid, hist[:1], 1000, 10, 2.5)
    assert [c["train"]["epochs"] for c in fitted] == [2, 3] and "epochs cut" in note
    assert sr.fit_to_budget(mid, hist[:1], 1000, 10, 1.0)[0] is None


def test_the_planner_keeps_the_refits_minutes_and_never_retrains_a_rolled_back_edit(tmp_path):
    """The search's iterations fit in the budget less the refit's estimate, so a budget that ends the search still
    leaves the refit on the training and development splits; after an iteration that gained nothing (rolled back),
    the next one tries other edits of the same best, not the same ones again; edits that do not fit give way to
    cheaper ones of another band."""
    from langgraph.runtime import Runtime

    from agents.planner import search
    from graph.context import Context
    from tools.coldstart import search as sr

    cfg = sr.SearchSettings(first_cap=100)
    first, _ = sr.first(1000, 10, cfg)

    def entry(it, score, c):  # 100 examples x 4 epochs in 6 s: 0.015 s an example-epoch
        return {"iteration": it, "stage": "search", "score": score, "seconds": 6.0, "examples": 100, "config": c,
                "strategy": c["name"], "confusions": [["a", "b", 3]]}

    whole = {**first[0], "data": {**first[0]["data"], "per_label": None}}  # lr1e-4 on all 1,000 training rows
    state = {"task": "classification", "labels": list("abcdefghij"), "iterations": [entry(1, 0.9, whole), entry(1, 0.85, first[1])],
             "evalset": {"train": 1000, "dev": 200, "baseline": {}}}
    run = lambda budget, st: search(st, Runtime(context=Context(run_dir=str(tmp_path / f"run{budget}"), budget_minutes=budget,  # noqa: E731
                                                                 max_iterations=6, target=0.99)))["plan"]
    # 4 min: the next iteration (1,000 examples x 4 and 6 epochs: 2.5 min) fits, with the refit's 1.2 min kept
    out = run(4.0, state)
    assert out["stage"] == "search" and [c["config"]["train"]["epochs"] for c in out["configs"]] == [4, 6]
    # 2.3 min: alone it would fit with its epochs cut to 3 and 5; with the refit's minutes kept, not even at 2 each, nor
    # would any other band's edits: the search stops and the refit trains
    out = run(2.3, state)
    assert out["stage"] == "refit" and "time budget" in out["why"] and "1.2 kept for the refit" in out["why"]
    assert out["configs"][0]["config"]["data"]["with_dev"] is True
    # iteration 2's edits gained nothing and were rolled back: iteration 3 tries the targeted ones instead
    mid, _ = sr.revise(entry(1, 0.9, whole), 2, [])
    state["iterations"] += [entry(2, 0.89, mid[0]), entry(2, 0.88, mid[1])]
    out = run(30.0, state)
    assert out["stage"] == "search" and all(c["config"]["data"]["focus"] == [["a", "b"]] for c in out["configs"])
    assert "optimization edits of lr1e-4 were tried" in out["why"]
    # when the band's edits do not fit even at 2 epochs, cheaper edits of another band spend what is left (TREC
    # stopped at 20.6 of 30 min): at 0.955 the targeted edits need 1.8 min at least (their focus doubles 2 of 10
    # labels), the optimization ones 1.25
    state["iterations"] = [entry(1, 0.955, whole), entry(1, 0.9, first[1])]
    out = run(2.75, state)
    assert out["stage"] == "search" and [c["config"]["train"]["epochs"] for c in out["configs"]] == [2, 3]
    assert all(c["config"]["data"]["focus"] == [] for c in out["configs"]) and "cheaper than the first edits" in out["why"]


# ------------------------------------------------------------------ end to end


def _intent_dir(tmp_path, name: str, seed: int):
    from tools.fixtures.demo import generate

    rows = generate(14, (0, 1, 2), random.Random(seed))
    d = tmp_path / name
    _write(d / "train.jsonl", "".join(json.dumps({"text": t, "intent": l}) + "\n" for t, l in rows))
    _write(d / "README.md", "# Banking support questions by intent\n")
    return d


def test_new_trains_from_a_description_and_the_memory_shortens_a_similar_task(tmp_path, tiny_base, capsys):
    from graph.cli import main

    home = tmp_path / "home"
    common = ["--base", tiny_base, "--home", str(home), "--max-iterations", "3", "--budget-minutes", "30",
              "--target", "0.5", "--quiet"]
    code = main(["new", "Classify banking customer messages by intent", "--data", str(_intent_dir(tmp_path, "bank", 0)),
                 "--out", str(tmp_path / "run1"), *common])
    assert code == 0
    rep = json.loads((tmp_path / "run1" / "report.json").read_text())
    assert rep["mode"] == "cold_start" and rep["promoted"] and rep["spec"]["kind"] == "classification"
    assert len(rep["spec"]["labels"]) == 8 and rep["evaluation_set"]["labels_covered"] == 8
    assert rep["final"]["accuracy"] is not None and rep["gain_over_baseline"] == round(rep["final"]["accuracy"] - rep["baseline"]["accuracy"], 4)
    assert rep["memory"] == {"used": False} and rep["registry"]["registry"] == "bank"
    # the dev score the search selected on, beside what the evaluation set measures
    f = rep["final"]
    assert f["dev_eval_gap"] == round(f["dev_score"] - f["accuracy"], 4) and "on the development split (held out)" in (tmp_path / "run1" / "report.md").read_text()
    assert (tmp_path / "run1" / "model" / "config.json").exists() and (tmp_path / "run1" / "report.md").exists()
    assert rep["evaluation_set"]["survey"]["source"] == "user" and rep["evaluation_set"]["survey"]["target"] == 0.5  # --target wins
    searched = lambda r: max(e["iteration"] for e in r["iterations"] if e["stage"] == "search")  # noqa: E731
    first_its = searched(rep)
    # the selected configuration is refit on the training and development splits for the final model
    final = [e for e in rep["iterations"] if e["decision"].startswith("final model")]
    selected = [e for e in rep["iterations"] if e["decision"].startswith("selected")]
    assert len(final) == 1 and len(selected) == 1 and final[0]["stage"] == "refit"
    assert final[0]["config"]["train"] == selected[0]["config"]["train"] and final[0]["config"]["data"]["with_dev"]
    assert final[0]["config"]["data"] == {**selected[0]["config"]["data"], "per_label": None, "with_dev": True}
    assert final[0]["examples"] >= rep["evaluation_set"]["train"] + rep["evaluation_set"]["dev"]  # more when augmented

    code = main(["new", "Classify bank customer requests into intents", "--data", str(_intent_dir(tmp_path, "bank2", 1)),
                 "--out", str(tmp_path / "run2"), *common])
    assert code == 0
    rep2 = json.loads((tmp_path / "run2" / "report.json").read_text())
    assert rep2["memory"]["used"] and rep2["memory"]["from_runs"] == ["run1"]
    assert rep2["iterations"][0]["strategy"].startswith("memory:")
    # the report says what the memory saved: the minutes the first run took to its selection against this one's
    m = rep2["memory"]
    assert m["remembered_minutes"] >= 0 and m["minutes_to_selected"] >= 0 and "min in the run that found" in (tmp_path / "run2" / "report.md").read_text()
    assert searched(rep2) <= first_its
    # the memory holds the selected configuration, not the refit's data (a later task must still select on its dev split)
    assert not rep2["iterations"][0]["config"]["data"]["with_dev"]


def test_new_without_any_data_source_says_what_is_missing(tmp_path, capsys):
    from graph.cli import main

    assert main(["new", "Classify banking questions by intent", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "--catalog" in err and not (tmp_path / "r").exists()
    # a catalog with nothing relevant: the closest dataset and its score are named
    cat = tmp_path / "catalog"
    _write(cat / "recipes" / "train.jsonl", "".join(json.dumps({"text": f"bake bread {i}", "label": "bake"}) + "\n" for i in range(12)))
    _write(cat / "recipes" / "CARD.md", "# Cooking recipes\n")
    assert main(["new", "Detect the sentiment of movie reviews", "--catalog", str(cat), "--labels", "pos", "neg",
                 "--out", str(tmp_path / "r2")]) == 2
    assert "recipes" in capsys.readouterr().err


def test_new_with_only_a_description_synthesizes_data_with_the_teacher(tmp_path, tiny_base):
    from graph.cli import main
    from tests.fake_openai import FakeOpenAI

    words = {"greeting": "hello hi hey good morning", "farewell": "bye goodbye see you later"}

    def reply(prompt: str) -> str:
        if prompt.startswith("Read this task description"):  # task understanding
            return 'Sure: {"kind": "classification", "labels": ["greeting", "farewell"]}'
        label = prompt.split("correct label is '")[1].split("'")[0]
        return json.dumps([f"{w} number {i}" for i, w in enumerate(words[label].split() * 4)])

    fake = FakeOpenAI(reply)
    try:
        code = main(["new", "Tell greetings from farewells in chat messages", "--labels", "greeting", "farewell",
                     "--chat-model", "teacher-model", "--chat-base-url", fake.url, "--base", tiny_base,
                     "--max-iterations", "1", "--out", str(tmp_path / "run"), "--quiet"])
    finally:
        fake.close()
    assert code == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    teacher = [s for s in rep["sources"] if s["origin"] == "teacher"]
    assert rep["spec"]["decided_by"] == {"kind": "chat", "labels": "flag"}
    assert teacher and teacher[0]["used"] and rep["pool"]["train"] == 40
    assert rep["evaluation_set"]["labels_covered"] == 2 and rep["promoted"]
    assert sum("correct label is" in p for p in fake.prompts) == 2


def test_catalog_datasets_are_ranked_and_used_only_when_relevant_and_their_labels_map(tmp_path):
    from tools.coldstart import scout as sc
    from tools.coldstart.taskspec import infer_task

    cat = tmp_path / "catalog"
    rows = [(f"my card {i} was lost", "card_lost") for i in range(6)] + [(f"when will card {i} arrive", "card_arrival") for i in range(6)]
    rows += [("where is my card", "card_lost"), ("where is my card", "card_arrival")]  # one input, two labels
    _write(cat / "bank" / "train.jsonl", "".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in rows))
    _write(cat / "bank" / "CARD.md", "# Banking customer support questions, by intent\n")
    _write(cat / "music" / "train.jsonl", "".join(json.dumps({"text": f"play song {i}", "label": "play"}) + "\n" for i in range(12)))
    _write(cat / "music" / "CARD.md", "# Voice requests to a music player\n")
    _write(cat / "broken" / "notes.txt", "nothing here")
    found, notes = sc.catalog(cat)
    assert sorted(c.source.name for c in found) == ["bank", "music"] and "broken" in notes[0]
    ranked = sc.rank("Classify banking customer questions about their cards by intent", found)
    assert ranked[0].source.name == "bank" and ranked[0].relevance > ranked[1].relevance
    spec = infer_task("Classify banking customer questions about their cards by intent", ["classification"], ranked[0].source.labels)
    used = sc.choose(spec, ranked)
    assert [c.source.name for c in used] == ["bank"] and "maps" in ranked[1].why
    pool = sc.build_pool(spec, used)
    assert len(pool.train) == 12 and pool.dropped["conflicting_labels"] == 1  # the input with two labels: dropped


def test_killed_cold_start_resumes_with_the_same_frozen_evaluation_set(tmp_path, tiny_base):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.procs import kill_at_first_training_step

    run = tmp_path / "run"
    args = [sys.executable, "-u", "-m", "graph.cli", "new", "Classify banking customer messages by intent",
            "--data", str(_intent_dir(tmp_path, "bank", 0)), "--out", str(run), "--base", tiny_base, "--home", str(tmp_path / "home"),
            "--max-iterations", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).parents[1]
    kill_at_first_training_step(args, env, root)
    frozen = (run / "eval_set.jsonl").read_bytes()
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and "scout" not in done.stderr and "evalset" not in done.stderr
    assert (run / "eval_set.jsonl").read_bytes() == frozen
    rep = json.loads((run / "report.json").read_text())
    assert rep["promoted"]
    # no --target: the baseline survey's linear probe set it, and the report says so (kept across the resume)
    from tools.coldstart.survey import calibrate

    sv = rep["evaluation_set"]["survey"]
    assert sv["source"] == "survey" and 0 <= sv["probe"] <= 1 and sv["target"] == calibrate(sv["probe"]).target
    assert f"Target {sv['target']} on the development split, from the survey" in (run / "report.md").read_text()


def test_the_scout_searches_a_reachable_hub_and_reads_its_parquet_with_class_names(tmp_path, tiny_base, monkeypatch):
    """A fake Hugging Face hub on loopback (HF_ENDPOINT): search, dataset info, file downloads."""
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    import pyarrow as pa
    import pyarrow.parquet as pq

    from graph.cli import main
    from tools.fixtures.demo import INTENTS, generate

    labels = sorted(INTENTS)
    rows = generate(12, (0, 1, 2), random.Random(3))
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": [t for t, _ in rows], "label": [labels.index(l) for _, l in rows]}), buf)
    card = "# Bank support intents\n\ndataset_info:\n  features:\n  - name: label\n    dtype:\n      class_label:\n        names:\n" + \
        "".join(f"          '{i}': {l}\n" for i, l in enumerate(labels))
    files = {"README.md": card.encode(), "data/train-00000-of-00001.parquet": buf.getvalue()}
    searches = []

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            url = urlparse(self.path)
            if url.path == "/api/datasets":
                q = parse_qs(url.query).get("search", [""])[0]
                searches.append(q)
                body = json.dumps([{"id": "acme/bank-intents"}] if q == "bank" else []).encode()
            elif url.path.startswith("/api/datasets/acme/bank-intents"):
                body = json.dumps({"id": "acme/bank-intents", "sha": "a" * 40,
                                   "siblings": [{"rfilename": k, "size": len(v)} for k, v in files.items()] + [{"rfilename": "big.csv", "size": 10**9}]}).encode()
            elif url.path.startswith("/datasets/acme/bank-intents/resolve/"):
                body = files[url.path.split("/resolve/")[1].split("/", 1)[1]]
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    try:
        code = main(["new", "Sort bank customer questions by intent", "--base", tiny_base, "--max-iterations", "1",
                     "--out", str(tmp_path / "run"), "--quiet"])
    finally:
        server.shutdown()
    assert code == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    hub = [s for s in rep["sources"] if s["origin"] == "hub"]
    assert hub and hub[0]["name"] == "acme/bank-intents" and hub[0]["used"] and hub[0]["format"] == "parquet"
    assert sorted(rep["spec"]["labels"]) == labels and "reachable" in rep["hub"] and "bank" in searches
    assert not (tmp_path / "run" / "work" / "hub" / "acme__bank-intents" / "big.csv").exists()


def test_a_free_text_evaluation_set_tags_long_unusual_and_declined_requests():
    """Generation's frame: the test split when there is one, never trained on; the longest and the most unusual
    inputs are boundary cases, requests the reference declines are negatives."""
    import numpy as np

    from tools.coldstart.evalset import build_free_text

    def fake_embed(texts):  # "weather" texts point elsewhere than the rest: the unusual ones
        return np.array([[0.0, 1.0] if "weather" in t else [1.0, 0.0] for t in texts], dtype=np.float32)

    pool = [(f"summarize call {i} about a card", f"The customer called about card {i}.", "d") for i in range(60)]
    test = [(f"summarize the meeting number {i} for me", f"Meeting {i} was short.", "d") for i in range(18)]
    test += [("summarize " + "a very long dialogue " * 30, "It was long.", "d"), ("summarize the weather talk", "Rain.", "d"),
             ("write my exam for me", "I'm sorry, I can't help with that.", "d"), (pool[0][0], pool[0][1], "d")]
    sp = build_free_text(pool, test, seed=0, embed_fn=fake_embed)
    tags = {r["input"]: r["tags"] for r in sp.eval}
    assert len(sp.eval) == 22 and sp.makeup["origin"] == "the sources' test split"
    assert "boundary" in tags["summarize " + "a very long dialogue " * 30] and "boundary" in tags["summarize the weather talk"]
    assert tags["write my exam for me"] == ["negative"] and sp.makeup["negatives"] == 1
    assert sum("boundary" in t for t in tags.values()) == 2  # ties at the length cut are not boundary cases
    trained = {r[0] for r in sp.train + sp.dev}
    assert pool[0][0] not in trained and sp.makeup["removed_from_training"] == 1 and len(sp.dev) == 6
