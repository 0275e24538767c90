"""`make lab`: a student's JupyterLab shows the chapters and the assignments, not the instructor's side.

The server `make lab` starts (same configuration: jupyter/student/) on 127.0.0.1: its file
browser lists no solutions/ (nor a class's submissions or grades), nbgrader's formgrader is not
served, and nbgrader's instructor panels are disabled in the page while its Validate button
stays.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(jupyter_server):
    recipe = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True).stdout
    assert f"JUPYTER_CONFIG_PATH={REPO}/jupyter/student" in recipe, recipe  # what `make lab` runs
    env = dict(os.environ, JUPYTER_CONFIG_PATH=str(REPO / "jupyter" / "student"))
    return jupyter_server("lab", REPO, "lab-test", f"--notebook-dir={REPO}", env=env)


def _get(url):
    request = urllib.request.Request(url, headers={"Authorization": "token lab-test"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def test_the_file_browser_shows_chapters_and_assignments_not_solutions(lab):
    status, body = _get(f"{lab}/api/contents/")
    names = {c["name"] for c in json.loads(body)["content"]}
    assert status == 200 and {"assignments", "book"} <= names, names
    assert not names & {"solutions", "submitted", "autograded", "grades", "gradebook.db"}, names


def test_nbgraders_instructor_side_is_not_there_and_validate_is(lab):
    assert _get(f"{lab}/formgrader")[0] == 404
    status, page = _get(f"{lab}/lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    disabled = set(config["disabledExtensions"])
    assert {"@jupyter/nbgrader:menu", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list",
            "@jupyter/nbgrader:assignment-list"} <= disabled, disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
