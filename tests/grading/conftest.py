"""Shared by the grading tests: whether the sandbox can run here, and a tiny worker factory."""

from __future__ import annotations

import pytest

from seqlib.grading.sandbox import SandboxUnavailable, check_sandbox


def sandbox_or_skip() -> None:
    """Skip (saying what to install) where bubblewrap cannot run; CI installs it (.ci/run)."""
    try:
        check_sandbox()
    except SandboxUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def sandbox_ok():
    sandbox_or_skip()
    return True
