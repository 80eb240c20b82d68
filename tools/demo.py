"""`pioneer demo`: a small deployment the project writes itself (no downloaded data).

Eight banking intents in confusable pairs. The deployed model saw only the first phrasing style of each
intent, a few examples each; real traffic uses every style, so it fails in patterns. A day of judged
traffic follows, with some wrong corrections and poisoned lines, and a held-out test set.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from tools.data import write_json
from tools.simulate import simulate_deployment

CARD = ["card", "debit card", "visa card", "bank card", "mastercard"]
ITEM = ["the shoes", "my order", "the headphones", "a hotel booking", "the concert tickets", "a jacket"]
CUR = ["euros", "dollars", "yen", "pounds", "swiss francs"]
WHEN = ["yesterday", "this morning", "last week", "two days ago", "on friday"]

INTENTS = {
    "card_lost": [
        ["i lost my {card}", "i can't find my {card} anywhere", "i misplaced my {card} {when}"],
        ["where did my {card} go, it's not in my wallet", "my {card} is missing since {when}"],
        ["left my {card} at a restaurant {when} and it's gone", "dropped my {card} somewhere in town"],
    ],
    "card_stolen": [
        ["my {card} was stolen", "someone stole my {card} {when}", "a thief took my {card}"],
        ["i was robbed {when} and they took my {card}", "my wallet with the {card} got pickpocketed"],
        ["somebody grabbed my {card} from my bag", "my {card} was taken in a burglary {when}"],
    ],
    "transfer_pending": [
        ["my transfer is still pending", "why is my transfer pending since {when}", "the transfer shows as pending"],
        ["money i sent {when} hasn't gone through yet", "my payment to a friend is stuck in processing"],
        ["how long until my transfer leaves pending status", "the bank transfer is waiting for approval"],
    ],
    "transfer_failed": [
        ["my transfer failed", "the transfer i made {when} failed", "why did my transfer fail"],
        ["money i sent {when} bounced back", "my payment to a friend was rejected"],
        ["the bank transfer returned an error", "my transfer got cancelled by the system {when}"],
    ],
    "refund_request": [
        ["i want a refund for {item}", "please refund {item}", "can i get my money back for {item}"],
        ["i returned {item} and want my money", "how do i ask for a refund on {item}"],
        ["start a refund for {item} please", "i'd like to be reimbursed for {item}"],
    ],
    "refund_status": [
        ["where is my refund for {item}", "my refund for {item} hasn't arrived", "when will the refund for {item} show up"],
        ["i was promised money back for {item} {when} but see nothing", "refund for {item} still not in my account"],
        ["track the refund for {item}", "status of my reimbursement for {item}"],
    ],
    "exchange_rate": [
        ["what is the exchange rate for {cur}", "how much is one dollar in {cur}", "today's rate for {cur}"],
        ["how many {cur} do i get for 100 pounds", "conversion rate to {cur} please"],
        ["is the {cur} rate good right now", "what rate do you use for {cur}"],
    ],
    "wrong_exchange_rate": [
        ["i was charged the wrong exchange rate", "the rate for my {cur} payment was wrong", "bad exchange rate on my purchase in {cur}"],
        ["you converted my {cur} payment at a terrible rate {when}", "my {cur} card payment used an incorrect rate"],
        ["the conversion to {cur} on my statement is off", "why was my rate for {cur} different from the official one"],
    ],
}
PREFIX = ["", "", "", "hi, ", "hello, ", "excuse me, ", "quick question: "]
SUFFIX = ["", "", "", "?", " please", ", thanks", ", what should i do"]


def sentence(intent: str, style: int, rng: random.Random) -> str:
    t = rng.choice(INTENTS[intent][style])
    s = t.format(card=rng.choice(CARD), item=rng.choice(ITEM), cur=rng.choice(CUR), when=rng.choice(WHEN))
    return rng.choice(PREFIX) + s + rng.choice(SUFFIX)


def generate(n_per_intent: int, styles: tuple[int, ...], rng: random.Random) -> list[tuple[str, str]]:
    rows = [(sentence(i, rng.choice(styles), rng), i) for i in INTENTS for _ in range(n_per_intent)]
    rng.shuffle(rows)
    return rows


def build_demo(out: str | Path, seed: int = 0, parent_per_intent: int = 8, traffic_per_intent: int = 75,
               test_per_intent: int = 40, wrong_rate: float = 0.1, poison_rate: float = 0.06, base: str | None = None,
               deployed_epochs: int = 6) -> dict:
    """Write parent.jsonl, logs.jsonl, key.jsonl, test.jsonl and the deployed model under `out`."""
    out = Path(out)
    rng = random.Random(seed)
    labels = sorted(INTENTS)
    parent = generate(parent_per_intent, (0,), rng)
    traffic_rows = generate(traffic_per_intent, (0, 1, 2), rng)
    test = generate(test_per_intent, (0, 1, 2), rng)
    info = simulate_deployment(out, labels, parent, traffic_rows, test, seed=seed, wrong_rate=wrong_rate,
                               poison_rate=poison_rate, deployed_epochs=deployed_epochs, base=base)
    write_json(out / "deployment.json", info)
    return info


# ------------------------------------------------------------------ entity extraction

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
CITIES = ["paris", "rome", "oslo", "lima", "cairo", "delhi", "tokyo", "quito"]
FIRMS = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"]
ENTITY_TEMPLATES = ["{p} flew to {c} for {f}", "{p} works at {f} in {c}", "ask {p} about the {c} office",
                    "{f} opened a store in {c}", "did {p} call {f} yesterday", "the {f} team met {p}",
                    "{p} will visit {c} next week", "book a flight to {c} for {p}"]


def score_demo(dep: str | Path, model_dir: str | None, excluded: set[str]) -> dict:
    """The demo knows the truth: the deployed and the promoted model (`model_dir`, None when nothing was) on its
    held-out test set, and triage's `excluded` log ids against its answer key."""
    from tools.classifier import predict
    from tools.data import read_jsonl
    from tools.metrics import classification_metrics, negative_flips
    from tools.simulate import triage_scores

    dep = Path(dep)
    test = read_jsonl(dep / "test.jsonl")
    x, y = [r["input"] for r in test], [r["output"] for r in test]
    before = predict(dep / "deployed", x)
    out = {"test_n": len(y), "deployed_accuracy": classification_metrics(y, before)["accuracy"], "promoted_accuracy": None}
    if model_dir:
        after = predict(model_dir, x)
        out.update(promoted_accuracy=classification_metrics(y, after)["accuracy"], test_flips=len(negative_flips(y, before, after)))
    out["triage"] = triage_scores({k["id"]: k for k in read_jsonl(dep / "key.jsonl")}, excluded)
    return out


def entity_sentence(rng: random.Random) -> tuple[str, list[dict]]:
    """A short sentence with its people (PER), places (LOC) and companies (ORG) as character spans."""
    tpl = rng.choice(ENTITY_TEMPLATES)
    fill = {"p": (rng.choice(PEOPLE), "PER"), "c": (rng.choice(CITIES), "LOC"), "f": (rng.choice(FIRMS), "ORG")}
    text, spans = "", []
    for part in re.split(r"(\{[pcf]\})", tpl):
        if part.startswith("{"):
            word, ty = fill[part[1]]
            spans.append({"start": len(text), "end": len(text) + len(word), "label": ty})
            text += word
        else:
            text += part
    return text, spans
