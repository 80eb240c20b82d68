"""The run folder's work files by name. A module with no imports, so that any part of tools/ may name them."""

# The work files, each named here once: the step that writes one and the steps that read it spell it by these names.
# production: diagnose writes the first four, the curriculum the mixes, every step reads the caches
TRIAGE = "triage.jsonl"  # each log line's verdict: trusted, fixable, noise or poison, and why
SPLITS = "splits.json"  # log ids of the regression set, the held-out failures and the tuning split
PATTERNS = "patterns.json"  # the failure patterns the diagnosis found
LOG_EMB, PARENT_EMB = "log_emb", "parent_emb"  # arrays: the logs' and the parent data's embeddings
DEPLOYED_PROBS = "deployed_probs_by_text"  # the deployed classifier's probabilities, by text
DEPLOYED_WORD_PROBS = "deployed_word_probs_by_text"  # the deployed tagger's word probabilities, by text
REGRESSION_MARGINS = "regression_margins"  # array: the deployed tagger's least word margin per regression sentence
PARAPHRASES = "paraphrases.jsonl"  # the chat model's paraphrases of the fixable failures
STARTED = "started.json"  # when the run started (its time budget counts from it)
PROMOTION = "promotion.json"  # the registry version a promotion made (a resumed run does not promote twice)
# cold start: the data scout writes the pool, the frame the splits
SCOUT = "scout.json"  # the data scout's findings
HUB = "hub"  # folder: data fetched from the hub
POOL_TRAIN, POOL_TEST = "pool_train.jsonl", "pool_test.jsonl"  # the data found, by split
FRAME = "frame.json"  # the frozen evaluation set's makeup and the baseline
DEV, TRAIN = "dev.jsonl", "train.jsonl"  # the development and training splits


def mix_file(iteration: int, candidate: str) -> str:
    """A candidate's training mix (its composition in the same name + .json, written last)."""
    return f"mix-{iteration}-{candidate}.jsonl"
