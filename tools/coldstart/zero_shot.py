"""Untrained baselines: for labels, each input gets the label whose name it is closest to (MiniLM); for
entities, the training split's entity names looked up in each input."""

from __future__ import annotations

from tools.coldstart.taskspec import humanize


def nearest_label(texts: list[str], labels: list[str], model: str | None = None) -> list[str]:
    from tools.models.embed import embed

    sims = embed(texts, model) @ embed([humanize(l) for l in labels], model).T
    return [labels[i] for i in sims.argmax(1)]


def dictionary_spans(texts: list[str], known: list[tuple[str, list[dict]]]) -> list[list[dict]]:
    """The untrained baseline for entities: the entity names of `known` rows (the training split), looked up in
    each input, longest first, each with its most frequent type. No model is trained."""
    import re
    from collections import Counter, defaultdict

    types: dict[str, Counter] = defaultdict(Counter)
    for text, spans in known:
        for s in spans:
            types[text[s["start"]:s["end"]].lower()][s["label"]] += 1
    names = sorted(types, key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in names)) if names else None
    out = []
    for text in texts:
        found = [] if pattern is None else [{"start": m.start(), "end": m.end(), "label": types[m.group()].most_common(1)[0][0]}
                                            for m in pattern.finditer(text.lower())]
        out.append(found)
    return out
