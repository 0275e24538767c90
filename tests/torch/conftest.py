"""Shared setup for the seqlib.torch tests: a fixed seed, one thread, and torch_helpers.

The repository runs pytest with --import-mode=importlib, which does not put test folders on
sys.path; the helpers module is made importable here, under a name no other folder uses.
"""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Deterministic, and one thread: the tensors here are tiny, and on a shared machine
    idle OpenMP threads spinning for each small op cost more than they save."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
