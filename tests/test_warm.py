"""Warm starts from a deployed checkpoint and weight interpolation with it (tools/models/warm.py), on a tiny BERT."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _logits(model_dir, texts):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    with torch.inference_mode():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits.numpy(), [model.config.id2label[i] for i in range(model.config.num_labels)]


def test_a_warm_start_keeps_the_deployed_rows_of_every_known_label(deployment, task_rows):
    from transformers import AutoModelForSequenceClassification

    from tools.models.warm import load_start

    texts = [text for text, _ in task_rows[2][:8]]
    before, labels = _logits(deployment / "deployed", texts)
    new_labels = ["brand_new"] + labels[::-1]
    model = load_start(AutoModelForSequenceClassification, deployment / "deployed", new_labels).eval()
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(deployment / "deployed"))
    with torch.inference_mode():
        after = model(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()
    assert after.shape == (len(texts), len(labels) + 1) and model.config.id2label[0] == "brand_new"
    np.testing.assert_allclose(after[:, 1:], before[:, ::-1], rtol=1e-5, atol=1e-5)  # same answers, re-indexed


def test_interpolation_runs_from_the_old_model_to_the_new_and_refuses_other_architectures(deployment, tiny_base, task_rows, tmp_path):
    from tools.models.classifier import TrainConfig, load_labels, train_classifier
    from tools.models.warm import choose_alpha, interpolate, weight_choice

    _, traffic, _ = task_rows
    texts, truth = [t for t, _ in traffic[:64]], [y for _, y in traffic[:64]]
    labels = load_labels(deployment / "deployed")
    new = tmp_path / "new"
    summary = train_classifier(None, texts, truth, labels, new, TrainConfig(epochs=2, learning_rate=3e-3, batch_size=16),
                               start=deployment / "deployed")
    assert summary["start"] == str(deployment / "deployed")
    old_logits, old_labels = _logits(deployment / "deployed", texts)
    new_logits, new_labels = _logits(new, texts)
    assert not np.allclose(old_logits, new_logits, atol=1e-3)  # the warm start learned something
    for a, expect in ((1.0, old_logits), (0.0, new_logits)):
        got, _ = _logits(interpolate(deployment / "deployed", new, a, tmp_path / f"a{a}"), texts)
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)
    best, scores, logp = choose_alpha(deployment / "deployed", new, [0.0, 0.5, 1.0], texts, truth)
    assert set(scores) == set(logp) == {0.0, 0.5, 1.0} and best == weight_choice(scores, len(truth), logp)
    # the mean log-probability of the truth, recounted from the two ends' logits (a = 1 is the deployed model)
    for a, logits, names in ((1.0, old_logits, old_labels), (0.0, new_logits, new_labels)):
        lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        assert abs(logp[a] - float(np.mean([lp[r, names.index(t)] for r, t in enumerate(truth)]))) < 1e-3
    assert json.loads((tmp_path / "a0.0" / "config.json").read_text())["id2label"]["0"] == labels[0]

    # where the tuning split ties every weight, the same fine-tuned model at the uninformed weight is a candidate too
    from agents.trainer import _twin

    cand = {"name": "warm-bold", "config": {"name": "warm-bold", "interpolate": [0.0, 0.2, 0.35, 0.5]}, "mix_file": "mix.jsonl"}
    training = {"examples": 64, "seconds": 12.5, "start": "deployed",
                "interpolation": {"alpha": 0.0, "also_gated": 0.35, "tuning_accuracy_by_alpha": {"0.0": 0.9}, "tuning_n": 20}}
    twin = _twin({"model": str(deployment / "deployed")}, cand, new, tmp_path / "1-warm-bold", training)
    assert twin["name"] == twin["config"]["name"] == "warm-bold@0.35" and twin["mix_file"] == "mix.jsonl"
    assert twin["config"]["interpolate"] == [0.0, 0.2, 0.35, 0.5]  # a revision of it tunes its weight afresh
    assert twin["training"]["seconds"] == 0.0 and twin["training"]["examples"] == 64  # no training of its own
    assert twin["training"]["interpolation"]["alpha"] == 0.35 and "also_gated" not in twin["training"]["interpolation"]
    assert training["interpolation"]["also_gated"] == 0.35  # the candidate's own record is left as it was
    got, _ = _logits(twin["model_dir"], texts)
    np.testing.assert_allclose(got, _logits(interpolate(deployment / "deployed", new, 0.35, tmp_path / "a0.35"), texts)[0], rtol=1e-4, atol=1e-4)

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    other = tmp_path / "other"
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                     num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(other)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(deployment / "deployed")).save_pretrained(other)
    with pytest.raises(ValueError, match="not the same architecture"):
        interpolate(deployment / "deployed", other, 0.5, tmp_path / "bad")


def test_the_interpolation_weight_is_the_largest_within_one_item_of_the_best_unless_the_split_ties_them_all():
    from tools.models.warm import weight_choice

    assert weight_choice({0.0: 0.900, 0.2: 0.895, 0.5: 0.890}, 200) == 0.2  # 0.895 is one item below, 0.890 two
    assert weight_choice({0.0: 0.900, 0.2: 0.895, 0.5: 0.890}, 2000) == 0.0  # one item is 0.0005: only the best
    assert weight_choice({0.0: 0.5, 0.35: 0.6}, 100) == 0.35
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.8}, 20) == 0.2  # a tie goes to the old model's side
    # every weight within one item: the split tells nothing, so the uninformed weight, not the grid's edge
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.9, 0.5: 0.85}, 20) == 0.35
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.9, 0.5: 0.85}, 20, uninformed=0.2) == 0.2
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.5: 0.9}, 20) == 0.5  # 0.35 not on the grid: the largest
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.8, 0.5: 0.8}, 20) == 0.2  # two items below: not all tied
    # all tied by accuracy, with log-probabilities: the highest mean log-probability of the truth decides
    logp = {0.0: -0.74, 0.2: -0.82, 0.35: -0.92, 0.5: -1.07}  # TREC stage 1's bold warm start, 23 tuning items
    assert weight_choice({0.0: 0.783, 0.2: 0.783, 0.35: 0.783, 0.5: 0.783}, 23, logp) == 0.0
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.9, 0.5: 0.85}, 20, {0.0: -0.5, 0.2: -0.4, 0.35: -0.4, 0.5: -0.6}) == 0.35  # equals: the larger
    from tools.models.warm import also_gated

    assert also_gated({0.0: 0.783, 0.2: 0.783, 0.35: 0.783, 0.5: 0.783}, 23, 0.0) == 0.35  # tied: both go to the gate
    assert also_gated({0.0: 0.783, 0.2: 0.783, 0.35: 0.783, 0.5: 0.783}, 23, 0.35) is None
    assert also_gated({0.0: 0.9, 0.2: 0.9, 0.35: 0.8}, 20, 0.2) is None  # the split told them apart
    # not all tied: the log-probabilities change nothing
    assert weight_choice({0.0: 0.9, 0.2: 0.9, 0.35: 0.8}, 20, {0.0: -0.9, 0.2: -0.5, 0.35: -0.1}) == 0.2
