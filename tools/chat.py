"""Optional chat model for the agents: `init_chat_model` by name, or any OpenAI-compatible base URL.

With none configured, the agents run their deterministic methods; nothing here is called.
"""

from __future__ import annotations

import json
import re


def get_chat_model(name: str | None, base_url: str | None = None, api_key: str | None = None, timeout: float = 60.0):
    """A LangChain chat model, or None when no name is given.

    `name` is `provider:model` (e.g. `openai:gpt-4.1-mini`); with `base_url`, a bare model name is
    served by that OpenAI-compatible endpoint.
    """
    if not name:
        return None
    from langchain.chat_models import init_chat_model

    kwargs = {"timeout": timeout, "max_retries": 1}
    if base_url:
        kwargs.update(base_url=base_url, api_key=api_key or "not-needed")
        if ":" not in name:
            name = f"openai:{name}"
    elif api_key:
        kwargs["api_key"] = api_key
    return init_chat_model(name, **kwargs)


def paraphrase(model, examples: list[str], label: str, n: int) -> list[str]:
    """Ask the chat model for `n` new requests that mean the same as the examples (one per line, JSON list)."""
    prompt = (
        "You write training data for a text classifier. The requests below all have the intent "
        f"'{label}'. Write {n} new, varied requests with the same intent, in the same style and length. "
        "Answer with a JSON list of strings only.\n\n" + "\n".join(f"- {e}" for e in examples[:5])
    )
    reply = model.invoke(prompt)
    return parse_list(getattr(reply, "content", str(reply)))[:n]


def parse_list(text: str) -> list[str]:
    """A JSON list of strings from a model's answer (tolerates code fences and one-per-line text)."""
    m = re.search(r"\[.*\]", text, re.DOTALL)
    if m:
        try:
            data = json.loads(m.group(0))
            return [s.strip() for s in data if isinstance(s, str) and s.strip()]
        except json.JSONDecodeError:
            pass
    return [l.strip("-*• \t\"") for l in text.splitlines() if l.strip("-*• \t\"")]


def synthesize(model, description: str, label: str, n: int, examples: list[str] | None = None) -> list[str]:
    """Ask the chat model (the teacher) for `n` varied inputs of the described task that have `label`."""
    prompt = (
        f"You write training data for a small model. Task: {description}\n"
        f"Write {n} new, varied, realistic inputs whose correct label is '{label}'. "
        "Answer with a JSON list of strings only."
        + ("\nExamples of inputs with this label:\n" + "\n".join(f"- {e}" for e in examples[:5]) if examples else "")
    )
    reply = model.invoke(prompt)
    return parse_list(getattr(reply, "content", str(reply)))[:n]
