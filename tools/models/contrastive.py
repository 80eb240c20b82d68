"""A contrastive first stage on the task's own pairs (SetFit, Tunstall et al. 2022, "Efficient Few-Shot Learning
Without Prompts"), before a sequence classifier's head is trained.

The encoder is trained so that two rows of the same label have mean-pooled embeddings at cosine 1 and two rows of
different labels at cosine 0 (sentence-transformers' CosineSimilarityLoss: the squared error of the cosine). Each
epoch pairs every row once, with a row of its own label or, every other row, of another label, so an epoch costs
about two classification epochs. The classifier is then built on the trained encoder as usual: the mean-probe
head (tools/models/mean_head.py) fits its probe on the embedding this stage shaped, which is SetFit's body and
head, then fine-tuned with it.
"""

from __future__ import annotations

import random


def pairs(targets: list, rng: random.Random) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for every row i: j another row of the same label (1.0) for even i, a row of another label
    (0.0) for odd i; a row alone in its label, or a task of one label, pairs the other way when it can."""
    by: dict = {}
    for i, y in enumerate(targets):
        by.setdefault(y, []).append(i)
    labels = list(by)
    out = []
    for i, y in enumerate(targets):
        can_same, can_differ = len(by[y]) > 1, len(labels) > 1
        if can_same and (i % 2 == 0 or not can_differ):
            out.append((i, _other(by[y], i, rng), 1.0))
        elif can_differ:
            other = rng.choice([l for l in labels if l != y])
            out.append((i, rng.choice(by[other]), 0.0))
    rng.shuffle(out)
    return out


def _other(rows: list[int], i: int, rng: random.Random) -> int:
    while True:
        j = rng.choice(rows)
        if j != i:
            return j


def contrastive_stage(model, tok, texts: list[str], targets: list, epochs: int, learning_rate: float = 2e-5,
                      batch_size: int = 16, max_length: int = 64, seed: int = 0) -> list[dict]:
    """Train `model`'s encoder (`model.base_model`, in place) on pairs of `texts` for `epochs`; returns the loss
    curve ({"epoch", "loss"} an epoch)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    encoder = model.base_model
    rng = random.Random(seed)
    plan = [pairs(targets, rng) for _ in range(epochs)]
    steps = sum((len(p) + batch_size - 1) // batch_size for p in plan)
    opt = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), max(1, steps))
    device = next(model.parameters()).device

    def embed(idx: list[int]):
        batch = tok([texts[k] for k in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
        states = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    curve = []
    encoder.train()
    for epoch, chosen in enumerate(plan):
        total = 0.0
        for s in range(0, len(chosen), batch_size):
            part = chosen[s : s + batch_size]
            a, b = embed([i for i, _, _ in part]), embed([j for _, j, _ in part])
            want = torch.tensor([y for _, _, y in part], dtype=a.dtype, device=device)
            loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(a, b), want)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            total += float(loss) * len(part)
        curve.append({"epoch": epoch + 1, "loss": round(total / max(1, len(chosen)), 4)})
    return curve
