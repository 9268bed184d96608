"""One process of a data-parallel job, for tests/train/test_distributed.py: trains an MLP
(no dropout) on digits in float64 and writes this rank's final weights to
OUT/rank-RANK.safetensors. Alone it is a single process; under torchrun (one machine or
several launchers) it joins the job torchrun describes.

    python tests/train/ddp_worker.py OUT
    python -m torch.distributed.run --nproc_per_node 2 tests/train/ddp_worker.py OUT
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

from deepnotes.train import distributed
from deepnotes.train.config import TrainConfig
from deepnotes.train.run import prepare
from deepnotes.train.trainer import Trainer, seed_everything

CONFIG = TrainConfig(
    model="mlp", data="digits", optimizer="sgd", lr=0.05, batch_size=32, epochs=2, progress=False
)


def in_float64(split: TensorDataset, name: str) -> TensorDataset:
    """The split in float64; the training split cut to 1,078 images (of 1,079), an even
    number: 33 global batches of 32 and a last one of 22, shared 11 and 11, whose two means
    average to the mean of 22. (An odd split needs one index repeated to share it.)"""
    tensors = [t.double() if t.is_floating_point() else t for t in split.tensors]
    return TensorDataset(*(t[:1078] if name == "train" else t for t in tensors))


def main(out: Path) -> None:
    torch.set_default_dtype(torch.float64)
    job = distributed.initialize(torch.device("cpu"))
    seed_everything(CONFIG.seed)
    model, task, bundle, _ = prepare(CONFIG)
    bundle = dataclasses.replace(
        bundle, splits={name: in_float64(split, name) for name, split in bundle.splits.items()}
    )
    trainer = Trainer(model, task, bundle, CONFIG, torch.device("cpu"), job=job)
    trainer.fit()
    weights = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
    save_file(weights, str(out / f"rank-{job.rank}.safetensors"))
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
