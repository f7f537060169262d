"""Where training and evaluation run: CPU (deterministic algorithms) or CUDA (bf16 autocast, channels_last).

``torchrun`` (``WORLD_SIZE`` > 1) initialises torch.distributed from the environment; only rank 0 writes files and
logs (``Runtime.is_main``).
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda else x

    def prepare(self, module: nn.Module) -> nn.Module:
        module = module.to(self.device)
        return module.to(memory_format=torch.channels_last) if self.cuda else module

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


def setup_runtime(device: str | None = None) -> Runtime:
    """CUDA when available (else CPU); torch.distributed from torchrun's environment when ``WORLD_SIZE`` > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if world_size > 1 and not torch.distributed.is_initialized():
        if cuda:
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return Runtime(torch.device("cuda", local_rank), rank, world_size)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return Runtime(torch.device("cpu"), rank, world_size)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)
