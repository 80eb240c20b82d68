"""The local backend: each job trained in this process, one after another (CPU, or CUDA when torch sees one)."""

from __future__ import annotations

from tools.backends.base import Progress, TrainJob, TrainResult, result


class Local:
    name = "local"

    def __init__(self, **_: object):  # a cluster backend's options (the Ray address) mean nothing here
        pass

    def run(self, jobs: list[TrainJob], progress: Progress | None = None) -> list[TrainResult]:
        from tools import kinds

        out = []
        for job in jobs:
            if progress:
                progress(job, {"started": True})
            report = (lambda e, j=job: progress(j, e)) if progress else None
            summary = kinds.get(job.kind).train(job.base_model, job.texts, job.targets, job.labels, job.out_dir, job.config,
                                                progress=report, teacher=job.teacher, start=job.start)
            out.append(result(job, summary))
        return out
