"""Fixtures shared by the test files."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run a test on one CPU thread, then restore the count.

    The tests' models are tiny: intra-op threads only add overhead, and on a busy 2-core machine
    they thrash. A file opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
