"""seqlib.grading.results: typed results, written and read in one place; text made safe for CSV and terminals."""

from __future__ import annotations

import json

import pytest

from seqlib.grading import results
from seqlib.grading.results import SubmissionResult, TestResult, for_csv, for_terminal


def _result() -> SubmissionResult:
    return SubmissionResult("rnn_numpy", "ada", 13.0, 4.0, source_sha256="a" * 64, submission_sha256="b" * 64,
                            notes=["x: unanswered"], sources={"f": "def f():\n    return 'caf\u00e9 \ud800'\n"},
                            functions={"f": "ok"}, refused=[{"kind": "process", "detail": "clone"}],
                            tests=[TestResult("t1", 4.0, 4.0, "passed", "", "printed"),
                                   TestResult("t2", 0.0, 9.0, "failed", "got 1, expected 2")],
                            timing={"total": 1.5})


def test_a_result_is_written_and_read_back_the_same_without_its_clock(tmp_path):
    r = _result()
    path = tmp_path / "ada.json"
    results.write(path, r)
    raw = path.read_bytes()
    assert raw.isascii() and b"timing" not in raw  # any text the student sent is written as is, escaped
    back = results.read(path)
    assert back == r and back.timing == {}
    results.write(path, back)
    assert path.read_bytes() == raw  # the same result, the same bytes


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("tests"),
    lambda d: d.update(extra=1),
    lambda d: d["tests"][0].update(status="great"),
    lambda d: d["tests"][0].pop("points"),
    lambda d: d.update(notes="not a list"),
])
def test_a_result_file_that_is_not_one_is_refused(tmp_path, mutate):
    data = _result().to_json()
    mutate(data)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="result file"):
        results.read(path)
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ValueError, match="unreadable"):
        results.read(path)
    assert results.read(tmp_path / "missing.json") is None


def test_a_grader_failure_records_no_score():
    r = SubmissionResult.not_graded("rnn_numpy", "bob", "the grader failed: worker did not start")
    assert r.grader_error and r.problem and r.tests == [] and r.status == "NOT GRADED"


@pytest.mark.parametrize("text, csv_text", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+1", "'+1+1"),
    ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("plain", "plain"),
    ("line\nbreak\ttab", "line break tab"),
    ("\x1b[2J\x1b[31mred", "?[2J?[31mred"),
    ("\u202eevil", "?evil"),
])
def test_student_text_is_neutralised_for_spreadsheets_and_terminals(text, csv_text):
    assert for_csv(text) == csv_text
    assert "\x1b" not in for_terminal(text) and "\n" not in for_terminal(text)
