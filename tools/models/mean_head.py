"""A sequence classifier that starts as the linear probe on the mean-pooled sentence embedding, in a plain
transformers BERT folder (LP-FT: linear probing then fine-tuning, Kumar et al. 2022).

A BERT classifier reads the first token through its pooler; MiniLM's sentence embeddings are the mean of all
tokens, and a linear probe on them beats a plain fine-tune on intents (tools/coldstart/probe.py). This module
adds one encoder layer that makes the first token's output the mean of the others and sets the classifier to
the probe fit on it, so fine-tuning starts from the probe's answers (and does not distort the features a
random head would), and the result is still a `BertForSequenceClassification` any transformers user loads:

- the new layer's queries are zero, so every attention score is equal and the first token's attention output
  is the mean, over the unmasked tokens, of the values; the values and the output projection are the identity
  times SCALE, so after the residual and LayerNorm the first token carries LayerNorm(mean + first / SCALE),
  nearly the normalised mean;
- its feed-forward output is zero at the start (the LayerNorm after it leaves a normalised vector as it is);
- the pooler is `tanh(POOL * x)`, nearly linear at that scale, and the classifier is the probe fit on the
  pooler's output, on the training rows.
"""

from __future__ import annotations

import numpy as np

SCALE = 50.0  # values x SCALE: the residual (the first token's own state) is 1/SCALE of the mean
POOL = 0.05  # ~1/sqrt(384): the pooled vector has about unit norm, the probe's scale (tools.coldstart.probe.C applies)


def supported(model) -> bool:
    """Whether `model` is BERT-shaped: encoder layers, a pooler with a dense layer, a linear classifier."""
    import torch

    base = model.base_model
    return (hasattr(getattr(base, "encoder", None), "layer") and hasattr(getattr(base, "pooler", None), "dense")
            and isinstance(getattr(model, "classifier", None), torch.nn.Linear))


def add_mean_layer(model) -> None:
    """Append to `model` (a BERT-style `...ForSequenceClassification`) an encoder layer whose first-token output is
    the normalised mean of the last layer's states, and a near-identity pooler; in place."""
    import copy

    import torch

    layers = model.base_model.encoder.layer
    layer = copy.deepcopy(layers[-1])
    d = model.config.hidden_size
    eye = torch.eye(d)
    attn = layer.attention
    with torch.no_grad():
        attn.self.query.weight.zero_()
        attn.self.query.bias.zero_()
        attn.self.value.weight.copy_(eye * SCALE)
        attn.self.value.bias.zero_()
        attn.output.dense.weight.copy_(eye)
        attn.output.dense.bias.zero_()
        for norm in (attn.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        layer.output.dense.weight.zero_()
        layer.output.dense.bias.zero_()
        pooler = model.base_model.pooler.dense
        pooler.weight.copy_(eye * POOL)
        pooler.bias.zero_()
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)
    if hasattr(layer.attention.self, "layer_idx"):
        layer.attention.self.layer_idx = len(layers) - 1


def pooled(model, tok, texts: list[str], batch_size: int = 128, max_length: int = 64) -> np.ndarray:
    """(n, d) pooler outputs of `model` for `texts` (eval mode, no gradients)."""
    import torch

    was = model.training
    model.eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts])
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            batch = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(model.device)
            out[idx] = model.base_model(**batch).pooler_output.float().cpu().numpy()
    model.train(was)
    return out


def probe_head(model, tok, texts: list[str], targets: list[str], labels: list[str], seed: int = 0, cap: int = 12000) -> float:
    """Set `model`'s classifier to a logistic regression fit on its own pooled features of (texts, targets), at most
    `cap` rows; returns the probe's training accuracy."""
    import random

    import torch

    from tools.coldstart.probe import fit

    rows = list(zip(texts, targets))
    if len(rows) > cap:
        rows = random.Random(seed).sample(rows, cap)
    feats = pooled(model, tok, [t for t, _ in rows])
    y = [labels.index(c) for _, c in rows]
    clf = fit(feats, y)
    weight = np.zeros((len(labels), feats.shape[1]), dtype=np.float32)
    bias = np.full(len(labels), -10.0, dtype=np.float32)  # a label absent from the rows starts unlikely
    coef, icpt = clf.coef_, clf.intercept_
    if len(clf.classes_) == 2:  # binary: sklearn keeps one row, for classes_[1]
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    weight[clf.classes_], bias[clf.classes_] = coef, icpt
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(weight))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    return float(clf.score(feats, y))
