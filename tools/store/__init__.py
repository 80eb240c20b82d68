"""What a run keeps: data formats and their checks, the run folder's work files, the registry, the memory, reports, locks and safe paths."""
