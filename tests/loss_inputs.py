"""Deterministic, RNG-free float64 feature tensors for the loss tests."""

import math

import torch


def wave(*shape, phase=0.0, scale=1.0):
    n = math.prod(shape)
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 0.731 + phase) * scale).reshape(shape)
