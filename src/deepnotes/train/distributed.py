"""Data-parallel training on PyTorch's own engine: torchrun, DistributedDataParallel, samplers.

    torchrun --nproc_per_node 2 -m deepnotes train lenet5_relu --data digits
    deepnotes train lenet5_relu --data digits --devices 2      # the same, launched for you

torchrun starts one process per device and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Each
process builds the same model from the same seed; `DistributedDataParallel`
averages the gradients of all processes during `backward()` (an all-reduce,
overlapped with the computation), so every replica takes the same step and
the weights stay equal. A `GlobalBatchSampler` gives each process its own
slice of every global batch of the epoch's shuffled order, so together they see
the data once.

`--batch-size` is the global batch: each of N processes takes batch / N
examples per step. The epoch's order is the one a single process draws from
the same seed, and process r takes the r-th slice of each global batch, so N
processes take the very steps one process takes (up to the order of a sum:
DDP averages N means of batch / N examples). A test checks it in float64, on
one machine and on two launchers that meet over the loopback address. Metrics are summed over the
processes (`all_reduce`) before they are averaged, and only rank 0 writes
files and draws progress bars. The backend is NCCL between CUDA devices and
gloo on CPUs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from deepnotes.data.base import loader_order
from deepnotes.errors import UserError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the job: rank among world_size, and its device index."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run's files, prints, and draws progress bars."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device of this process: its own GPU (LOCAL_RANK) when training on CUDA."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device

    def per_process_batch(self, batch_size: int) -> int:
        if batch_size % self.world_size:
            raise UserError(
                f"--batch-size {batch_size} is the global batch; it must divide evenly among "
                f"{self.world_size} processes"
            )
        return batch_size // self.world_size

    def sum(self, values: Sequence[float]) -> list[float]:
        """Each value summed over all processes (itself when alone)."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64)
        if self.backend == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().tolist()


SINGLE_PROCESS = Distributed()


class GlobalBatchSampler(torch.utils.data.Sampler[int]):
    """The indices one process of a data-parallel job visits in an epoch: its slice of each
    global batch of the order a single process would draw (`loader_order` seeded `seed`).

    With n examples, global batch B = N·b over N processes, and order π, process r takes
    π[tB + r·c_t : tB + (r+1)·c_t] at step t, where c_t = b except in a last, smaller
    global batch, which is shared out evenly (c_t = its size / N). So that it divides, the
    order is first padded to a multiple of N with its own first indices, as torch's
    `DistributedSampler` pads. A DataLoader with batch_size b then batches the slices.
    """

    def __init__(self, n: int, job: Distributed, global_batch: int, seed: int) -> None:
        self.n, self.job, self.global_batch, self.seed = n, job, global_batch, seed

    def __iter__(self) -> Iterator[int]:
        order = loader_order(
            self.n, shuffle=True, generator=torch.Generator().manual_seed(self.seed)
        )
        padding = -self.n % self.job.world_size
        order = torch.cat([order, order[:padding]])  # (n + padding,), a multiple of N
        for start in range(0, len(order), self.global_batch):
            batch = order[start : start + self.global_batch]
            share = len(batch) // self.job.world_size
            yield from batch[self.job.rank * share : (self.job.rank + 1) * share].tolist()

    def __len__(self) -> int:
        return -(-self.n // self.job.world_size)


def check_task(task: Any) -> None:
    """Refuse, before any process starts, a task that cannot train data-parallel."""
    if not task.distributable:
        raise UserError(
            f"the {task.name} task cannot train on several processes (DistributedDataParallel "
            "needs the loss to go through model(...) on batches of a data set it can shard); "
            "train it on one"
        )


def from_environment() -> Distributed:
    """The job torchrun describes in the environment, or a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return SINGLE_PROCESS
    return Distributed(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def initialize(device: torch.device) -> Distributed:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); alone, do nothing."""
    job = from_environment()
    if not job.enabled:
        return job
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(job.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return Distributed(job.rank, job.world_size, job.local_rank, backend)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(processes: int, argv: Sequence[str]) -> int:
    """Run `deepnotes ARGV` in `processes` processes on this machine through torchrun."""
    if processes < 1:
        raise UserError(f"--devices must be at least 1, not {processes}")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # one machine: a local rendezvous on a free port
        "--nproc_per_node",
        str(processes),
        "-m",
        "deepnotes",
        *argv,
    ]
    return subprocess.run(command, check=False).returncode
