"""Task understanding for cold-start mode: a description (and whatever data there is) becomes a task spec.

Without a chat model the spec is read off the flags, then the data (labels found in it, the kind from the
shape of its outputs), then the description's words. What none of them settles raises TaskError naming the
flag that does. With a chat model, its JSON answer fills what the flags leave open; the data still wins
over it for labels, since those are what can be trained.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from tools import kinds

OUT_OF_SCOPE = {"oos", "out_of_scope", "outofscope", "other", "none", "irrelevant", "unknown", "no_intent"}


class TaskError(ValueError):
    """The task cannot be decided: says what is missing and which flag settles it."""

    def __init__(self, message: str, flag: str):
        self.flag = flag
        super().__init__(f"{message} (settle it with {flag})")


@dataclass
class TaskSpec:
    description: str
    kind: str
    labels: list[str]
    metric: str
    input_kind: str = "text"
    out_of_scope: list[str] = field(default_factory=list)  # labels meaning "none of the above": the negatives
    label_level: str = "as_in_data"  # or "coarse": LABEL:sub labels cut at the colon
    decided_by: dict[str, str] = field(default_factory=dict)  # field -> flag | data | description | chat
    metric_why: str = ""  # why this metric (for free text: which verifier the data's answers allow)

    def to_dict(self) -> dict:
        return asdict(self)


def humanize(label: str) -> str:
    """card_arrival -> 'card arrival'; AddToPlaylist -> 'add to playlist'; NUM:dist -> 'num dist'."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label)
    return " ".join(re.split(r"[\s_:\-./]+", s)).strip().lower()


def _norm(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", label.lower())


def coarse(label: str) -> str:
    return label.split(":", 1)[0]


def names_labels(description: str, labels: list[str]) -> int:
    """How many of `labels` the description names (a word sharing its first three letters or more)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z]{3,}", description)}
    hit = 0
    for l in labels:
        n = _norm(l)
        if len(n) >= 3 and any(w[:3] == n[:3] and (w.startswith(n[:4]) or n.startswith(w[:4])) for w in words):
            hit += 1
    return hit


def kind_from_description(description: str) -> str | None:
    """The one kind whose words the description uses (None when none does, or several do)."""
    hits = [k for k in kinds.known() if re.search(kinds.naming(k)["words"], description, re.I)]
    return hits[0] if len(hits) == 1 else None


def infer_task(description: str, data_kinds: list[str], data_labels: list[str], labels: list[str] | None = None,
               kind: str | None = None, chat=None) -> TaskSpec:
    """The task spec from the flags (`labels`, `kind`), the data's kinds and labels, then the description."""
    if not description or not description.strip():
        raise TaskError("the task description is empty", 'the DESCRIPTION argument: pioneer new "classify ..."')
    decided: dict[str, str] = {}
    hint = _ask_chat(chat, description, data_labels) if chat is not None else {}
    known = kinds.known()
    if kind:
        if kind not in known:
            raise TaskError(f"unknown task kind {kind!r} (expected one of {', '.join(known)})", "--kind")
        decided["kind"] = "flag"
    elif data_kinds:
        found = sorted(set(data_kinds))
        if len(found) > 1:
            raise TaskError(f"the data holds several kinds of task ({', '.join(found)})", "--kind")
        kind, decided["kind"] = found[0], "data"
    elif hint.get("kind") in known:
        kind, decided["kind"] = hint["kind"], "chat"
    else:
        kind = kind_from_description(description)
        if kind is None:
            raise TaskError(f"cannot tell from the description which kind of task this is ({', '.join(known)})",
                            "--kind " + "|".join(known))
        decided["kind"] = "description"

    need = kinds.naming(kind)["min_labels"]
    level = "as_in_data"
    if labels:
        out, decided["labels"] = list(dict.fromkeys(labels)), "flag"
        if data_labels and all(":" in l for l in data_labels) and not set(out) & set(data_labels):
            level = "coarse"
    elif data_labels:
        out, decided["labels"] = sorted(data_labels), "data"
        if all(":" in l for l in data_labels):  # LABEL:sub; the description chooses the level
            top = sorted({coarse(l) for l in data_labels})
            if names_labels(description, top) >= max(2, len(top) // 2):
                out, level = top, "coarse"
    elif hint.get("labels") and need:
        out, decided["labels"] = [str(l) for l in hint["labels"]], "chat"
    elif not need:
        out = []
    else:
        raise TaskError("no label set: the description names none and there is no labelled data",
                        "--labels A B C, or --data with labelled examples")
    if len(out) < need:
        raise TaskError(f"a {kind} task needs {need} labels or more, found {out}", "--labels")
    oos = [l for l in out if _norm(l) in {_norm(x) for x in OUT_OF_SCOPE}]
    return TaskSpec(description.strip(), kind, out, kinds.naming(kind)["metric_key"], out_of_scope=oos, label_level=level, decided_by=decided)


def map_label(source_label: str, task_labels: list[str], level: str = "as_in_data") -> str | None:
    """A source's label on the task's labels: exact (ignoring case and separators), else its coarse part."""
    by_norm = {_norm(l): l for l in task_labels}
    if _norm(source_label) in by_norm:
        return by_norm[_norm(source_label)]
    if ":" in source_label and (level == "coarse" or _norm(coarse(source_label)) in by_norm):
        return by_norm.get(_norm(coarse(source_label)))
    return None


def _ask_chat(chat, description: str, data_labels: list[str]) -> dict:
    """The chat model's reading of the task as JSON ({} when it fails: the deterministic rules decide)."""
    prompt = ("Read this task description for a small language model and answer with JSON only: "
              '{"kind": ' + " | ".join(f'"{k}"' for k in kinds.known()) + ', "labels": [label names, when the task has labels]}.\n'
              f"Description: {description}\n" + (f"Labels found in the data: {data_labels[:100]}\n" if data_labels else ""))
    try:
        reply = chat.invoke(prompt)
        text = str(getattr(reply, "content", reply))
        m = re.search(r"\{.*\}", text, re.S)
        return json.loads(m.group(0)) if m else {}
    except Exception:  # noqa: BLE001 - a chat failure leaves the deterministic rules to decide
        return {}
