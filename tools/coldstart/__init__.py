"""Cold start's work: data sources and the hub, the task spec, the frozen evaluation set, the search, an untrained baseline."""
