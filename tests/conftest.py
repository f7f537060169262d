"""Fixtures shared by the test modules (helpers they import live beside this file, e.g. faces_factory.py)."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared CPU, OpenMP threads spinning at barriers make tiny models 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
