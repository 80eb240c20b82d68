"""Training backends behind one seam: a training job in (the kind, the start, the data, the config, the teacher),
a result out (the model folder, the loss curve, the seconds). `local` trains in this process; a GPU (unsloth) or
cluster backend registers beside it in `base.py` and gets the same jobs."""

from tools.backends.base import Backend, TrainJob, TrainResult, get, names

__all__ = ["Backend", "TrainJob", "TrainResult", "get", "names"]
