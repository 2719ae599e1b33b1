"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for the test: with tiny tensors a second thread only spins on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
