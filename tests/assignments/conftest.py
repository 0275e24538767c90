"""Shared by the assignment tests: a course folder, and grading through the trusted grader
(assignment_helpers.py, made importable here: --import-mode=importlib puts no test folder on
sys.path)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from assignment_helpers import course, grade  # noqa: E402,F401 - fixtures
