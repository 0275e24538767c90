"""The repository a graded class gets: the course without solutions/ and the tests that read it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_student_repository_holds_no_answer_and_no_hidden_test(tmp_path):
    dest = tmp_path / "students"
    proc = subprocess.run([sys.executable, "-m", "seqlib.grading", "student-repo", str(dest)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (dest / "solutions").exists() and not (dest / "tests" / "grading").exists()
    assert (dest / "assignments" / "rnn_numpy" / "rnn_numpy.ipynb").exists() and (dest / "book").is_dir()
    notebooks = list(dest.rglob("*.ipynb"))
    assert len(notebooks) >= 8
    for nb in notebooks:
        text = nb.read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "Rubric" not in text, nb
        json.loads(text)
    # every hidden test's code, as the source notebook has it, is nowhere in the published files
    source = json.loads((REPO / "solutions" / "rnn_numpy" / "rnn_numpy.ipynb").read_text())
    hidden = ["".join(c["source"]).split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].strip()
              for c in source["cells"] if "### BEGIN HIDDEN TESTS" in "".join(c["source"])]
    published = "".join(p.read_text(encoding="utf-8", errors="replace") for p in dest.rglob("*") if p.is_file()
                        and ".git" not in p.parts)
    assert hidden and not [h[:60] for h in hidden if h in published]
    assert 'testpaths = ["tests"]' in (dest / "pyproject.toml").read_text()
    log = subprocess.run(["git", "log", "--oneline"], cwd=dest, capture_output=True, text=True)
    assert log.stdout.count("\n") == 1, log.stdout


def test_the_student_repository_is_never_written_over_something(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "seqlib.grading", "student-repo", str(tmp_path / "taken")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "DEST" in proc.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
