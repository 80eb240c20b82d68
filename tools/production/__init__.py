"""Production mode's work: diagnosis and triage of the logs, failure patterns, the training mix, strategies, lineage."""
