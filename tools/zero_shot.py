"""The untrained baseline of an encoder: each input gets the label whose name it is closest to (MiniLM)."""

from __future__ import annotations

from tools.taskspec import humanize


def nearest_label(texts: list[str], labels: list[str], model: str | None = None) -> list[str]:
    from tools.embed import embed

    sims = embed(texts, model) @ embed([humanize(l) for l in labels], model).T
    return [labels[i] for i in sims.argmax(1)]
