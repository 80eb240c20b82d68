"""Token-classification backend for entity extraction: train from the base model, predict character spans.

Inputs are split into words (tools.kinds.spans.words); each word carries an IOB2 tag, learned on its first subword
(the other subwords are ignored by the loss). Predictions decode word tags back to character spans.

A decision threshold makes the model more careful: a word is tagged as part of an entity only when the model
gives "O" less than `o_threshold` probability (plain argmax when it is unset). The threshold is saved in the
model's config.json (`pioneer_o_threshold`); plain transformers ignores it and takes the argmax.

Writes a standard `AutoModelForTokenClassification` folder with `id2label` ("O", "B-type", "I-type").
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tools.kinds.spans import Span, from_tags, to_tags, words
from tools.models.classifier import (Progress, TrainConfig, _device, distilled, length_grouped_batches, save, schedule, seed_all,
                                     starting_point, update)


def tag_set(types: list[str]) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in ("B", "I")]


def entity_types(model_dir: str | Path) -> list[str]:
    return sorted({v[2:] for v in tag_names(model_dir) if v != "O"})


def tag_names(model_dir: str | Path) -> list[str]:
    """A tagger's tags in the order of its output layer."""
    id2label = json.loads((Path(model_dir) / "config.json").read_text()).get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)]


def is_tagger(model_dir: str | Path) -> bool:
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    return any(a.endswith("ForTokenClassification") for a in cfg.get("architectures") or [])


def _encode(tok, texts: list[str], max_length: int):
    """Subword encodings of the texts' words, with each subword's word index (None for special tokens)."""
    offs = [words(t) for t in texts]
    enc = tok([[t[a:b] for a, b in o] for t, o in zip(texts, offs)], is_split_into_words=True, truncation=True, max_length=max_length)
    return enc, offs, [enc.word_ids(i) for i in range(len(texts))]


def train_tagger(base: str | None, texts: list[str], spans: list[list[Span]], types: list[str], out_dir: str | Path,
                 config: TrainConfig, progress: Progress | None = None, teacher: list[np.ndarray] | None = None,
                 start: str | Path | None = None) -> dict:
    """Fine-tune `base` (or the tagger `start`, a warm start, its tag rows re-indexed) to tag the spans' words;
    the model is written atomically to `out_dir`.

    `teacher` is optional: per text, a (words, tags of `tag_set(types)`) array of soft labels, all zero on the
    words not to distil (see `teacher_probs`). With `config.distill_weight` > 0 the loss mixes the tags' cross
    entropy with the KL to the teacher on those words' first subwords."""
    import torch
    from transformers import AutoModelForTokenClassification

    seed_all(config.seed)
    device = _device()
    tags = tag_set(types)
    tag_id = {t: i for i, t in enumerate(tags)}
    tok, model = starting_point(AutoModelForTokenClassification, base, start, tags)
    model = model.to(device)
    enc, offs, wids = _encode(tok, texts, config.max_length)
    targets = []
    for text, s, o, w in zip(texts, spans, offs, wids):
        word_tags = to_tags(text, s, o)
        prev, row = None, []
        for wi in w:
            row.append(-100 if wi is None or wi == prev else tag_id.get(word_tags[wi], 0))
            prev = wi
        targets.append(row)
    soft = None
    if teacher is not None and config.distill_weight > 0:
        soft = []  # per text, per subword: the teacher row of the word it starts, else zeros
        for t, w in zip(teacher, wids):
            rows, prev = np.zeros((len(w), len(tags)), dtype=np.float32), None
            for pos, wi in enumerate(w):
                if wi is not None and wi != prev and wi < len(t):
                    rows[pos] = t[wi]
                prev = wi
            soft.append(rows)
    lengths = [len(ids) for ids in enc["input_ids"]]
    steps_per_epoch, total, opt, sched, rng = schedule(model, lengths, config)
    curve, step, t0 = [], 0, time.time()
    model.train()
    for epoch in range(config.epochs):
        running = 0.0
        for idx in length_grouped_batches(lengths, config.batch_size, rng):
            batch = tok.pad({"input_ids": [enc["input_ids"][i] for i in idx], "attention_mask": [enc["attention_mask"][i] for i in idx]},
                            return_tensors="pt").to(device)
            width = batch["input_ids"].shape[1]
            y = torch.tensor([targets[i] + [-100] * (width - len(targets[i])) for i in idx], device=device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(**batch).logits.float()
            loss = torch.nn.functional.cross_entropy(logits.view(-1, len(tags)), y.view(-1), ignore_index=-100)
            if soft is not None:  # the taught words' first subwords, padded as the batch
                s = torch.tensor(np.stack([np.pad(soft[i], ((0, width - len(soft[i])), (0, 0))) for i in idx]), device=device)
                loss = distilled(loss, logits, s, config)
            step += 1
            running += update(loss, model, opt, sched, progress, {"step": step, "total": total, "epoch": epoch + 1})
        curve.append({"epoch": epoch + 1, "loss": round(running / max(1, steps_per_epoch), 4)})
    summary = {"config": asdict(config), "examples": len(texts), "curve": curve, "seconds": round(time.time() - t0, 1),
               "start": str(start) if start is not None else "base"}
    save(model, tok, out_dir, summary)
    return summary


def word_probs(model_dir: str | Path, texts: list[str], batch_size: int = 64, max_length: int = 128):
    """Per input, the (words, tags) probabilities of each word's first subword, the word offsets, and the tag names.
    Words cut off by `max_length` get all their probability on "O"."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForTokenClassification.from_pretrained(str(model_dir)).eval().to(_device())
    tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
    enc, offs, wids = _encode(tok, texts, max_length)
    out = [np.tile(np.eye(len(tags), dtype=np.float32)[tags.index("O")], (len(o), 1)) for o in offs]
    order = np.argsort([len(ids) for ids in enc["input_ids"]])
    with torch.inference_mode():
        for k in range(0, len(texts), batch_size):
            idx = order[k : k + batch_size]
            batch = tok.pad({"input_ids": [enc["input_ids"][i] for i in idx], "attention_mask": [enc["attention_mask"][i] for i in idx]},
                            return_tensors="pt").to(model.device)
            probs = torch.softmax(model(**batch).logits.float(), -1).cpu().numpy()
            for row, i in enumerate(idx):
                prev = None
                for pos, wi in enumerate(wids[i]):
                    if wi is not None and wi != prev:
                        out[i][wi] = probs[row, pos]
                    prev = wi
    return out, offs, tags


def teacher_probs(model_dir: str | Path, texts: list[str], spans: list[list[Span]], tags: list[str],
                  probs: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The deployed tagger's word probabilities, mapped onto `tags`, on the words whose tag it gets right
    (zero rows elsewhere): what focal distillation keeps of the deployed behaviour. `probs`: its `word_probs`
    for `texts` when they were already computed (a run's cache)."""
    if probs is None:
        probs = word_probs(model_dir, texts)[0]
    dep_tags = tag_names(model_dir)
    cols = [(j, tags.index(t)) for j, t in enumerate(dep_tags) if t in tags]
    out = []
    for text, s, p in zip(texts, spans, probs):
        o = words(text)
        mapped = np.zeros((len(o), len(tags)), dtype=np.float32)
        for j, k in cols:
            mapped[:, k] = p[:, j]
        right = np.array([dep_tags[j] == t for j, t in zip(p.argmax(1), to_tags(text, s, o))], dtype=bool)
        out.append(mapped * right[:, None])
    return out


def decode(probs: np.ndarray, offsets: list[tuple[int, int]], tags: list[str], o_threshold: float | None = None) -> list[Span]:
    """Spans from word probabilities: argmax, or, with a threshold, "O" unless its probability is below it."""
    if not len(offsets):
        return []
    o = tags.index("O")
    best = probs.argmax(1)
    if o_threshold is not None:
        ent = probs.copy()
        ent[:, o] = -1
        best = np.where(probs[:, o] < o_threshold, ent.argmax(1), o)
    return from_tags(offsets, [tags[j] for j in best])


def threshold_of(model_dir: str | Path) -> float | None:
    return json.loads((Path(model_dir) / "config.json").read_text()).get("pioneer_o_threshold")


def predict_spans(model_dir: str | Path, texts: list[str], o_threshold: float | None = None,
                  probs: list[np.ndarray] | None = None) -> list[list[Span]]:
    """Character spans for each text; the threshold saved with the model when none is given. `probs`: the
    model's `word_probs` for `texts` when they were already computed."""
    probs = word_probs(model_dir, texts)[0] if probs is None else probs
    th = threshold_of(model_dir) if o_threshold is None else o_threshold
    tags = tag_names(model_dir)
    return [decode(p, words(t), tags, th) for p, t in zip(probs, texts)]


def set_threshold(model_dir: str | Path, o_threshold: float | None) -> None:
    """Save the decision threshold in the model's config.json (None removes it)."""
    path = Path(model_dir) / "config.json"
    cfg = json.loads(path.read_text())
    cfg.pop("pioneer_o_threshold", None)
    if o_threshold is not None:
        cfg["pioneer_o_threshold"] = o_threshold
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def spans_and_margins(model_dir: str | Path, texts: list[str], probs: list[np.ndarray] | None = None) -> tuple[list[list[Span]], list[float]]:
    """Each input's spans (with the model's saved threshold) and its smallest word top-2 margin (1.0 without
    words): how near the tagger's least certain word is to another tag. One pass over the texts (none when
    their `word_probs` are given)."""
    probs = word_probs(model_dir, texts)[0] if probs is None else probs
    margins = []
    for p in probs:
        top = np.sort(p, 1) if len(p) else None
        margins.append(float((top[:, -1] - top[:, -2]).min()) if top is not None and p.shape[1] > 1 else 1.0)
    return predict_spans(model_dir, texts, probs=probs), margins
