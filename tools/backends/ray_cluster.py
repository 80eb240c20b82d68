"""The Ray backend: an iteration's candidates trained side by side as Ray tasks on a cluster the team already runs.

    pioneer improve ... --backend ray --ray-address 10.0.0.5:6379     (or RAY_ADDRESS; none: a local Ray)

Each job is one task with its resources (`CPUS_PER_JOB` CPUs, one GPU where the cluster has GPUs). The job's data
(texts, targets, config, teacher) travels in Ray's object store; models travel through shared storage: the run
folder, and the deployed model a warm start begins from, must be paths every worker sees (one machine, or NFS).
Workers import this project, so it must be installed where they run (it is, on one machine). A worker that dies
(killed, out of memory, its node lost) is retried up to `RETRIES` times; a run killed mid-iteration resumes
without retraining the candidates that finished (the trainer skips a folder whose training summary is written).
The same seeds give the same candidates as the local backend (each task trains with the job's seed), up to the last
bits of the floats: a task trains with its own CPUs' threads, the local backend with all of this machine's, and sums
split across threads round differently. Tested: a tiny model's 4-epoch run gated and promoted exactly as local; at 30
epochs one candidate flipped 6 regression passes on Ray against 2 locally.
"""

from __future__ import annotations

import os
from typing import Any

from tools.backends.base import Progress, TrainJob, TrainResult, result

CPUS_PER_JOB = 1
WORKER_ENV = ("PIONEER_HOME", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")
RETRIES = 2  # a worker that dies is retried this many times (Ray retries system failures, not Python errors)


def train_job(job: TrainJob, threads: int) -> dict:
    """One job, in a Ray worker: the kind's own training, as the local backend runs it. Returns its summary."""
    import torch

    from tools import kinds

    import ray

    torch.set_num_threads(max(1, threads))
    summary = kinds.get(job.kind).train(job.base_model, job.texts, job.targets, job.labels, job.out_dir, job.config,
                                        teacher=job.teacher, start=job.start)
    return {**summary, "worker": {"backend": "ray", "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}}


class Ray:
    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_job: int = CPUS_PER_JOB, **_: Any):
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.cpus_per_job = cpus_per_job

    def run(self, jobs: list[TrainJob], progress: Progress | None = None) -> list[TrainResult]:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray backend needs Ray: pip install -c constraints.txt 'pioneer-agent[ray]'") from None
        if not jobs:
            return []
        if not ray.is_initialized():
            # no address: a Ray started for this process. The workers get the few variables training reads (the
            # home, the offline hub), never the rest (an API key, a database URL would show in the cluster's dashboard)
            env = {"env_vars": {k: os.environ[k] for k in WORKER_ENV if os.environ.get(k)}}
            where = {"address": self.address} if self.address else {"include_dashboard": False}
            ray.init(log_to_driver=False, runtime_env=env, **where)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_cpus=self.cpus_per_job, num_gpus=gpus, max_retries=RETRIES)(train_job)
        pending = {}
        for job in jobs:
            if progress:
                progress(job, {"started": True})
            pending[task.remote(job, self.cpus_per_job)] = job
        summaries: dict[str, dict] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            summaries[job.name] = ray.get(done[0])  # a job that failed in Python raises here, as local would
            curve = summaries[job.name]["curve"]
            if progress and curve:  # the job's last step (a task's steps are not streamed back)
                progress(job, {"step": len(curve), "total": len(curve), "loss": curve[-1]["loss"]})
        return [result(job, summaries[job.name]) for job in jobs]
