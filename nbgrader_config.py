"""nbgrader configuration for the course (nbgrader finds it only in the current directory).

Run nbgrader from the repository root, or through the Makefile targets
(make release / autograde / grades / feedback), which do.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets when this file is loaded)

root = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = root
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# Submissions, grades and feedback are a class's private data: gitignored folders.
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")

# `nbgrader validate` (a student's own check before submitting) interrupts a cell that runs
# longer than this. Grading does not use nbgrader's executor: `make autograde` runs the
# student's code in seqlib's sandbox, with its own time limits (README, "For instructors").
c.Execute.timeout = int(os.environ.get("SEQLIB_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True

# Feedback shows scores and failures, not the hidden tests' code; `make feedback` then names
# each test, typesets the maths with the course's MathJax and removes every script and remote
# load from the page (seqlib.grading.feedback).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "seqlib.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# nbgrader's exchange (releasing and collecting through JupyterHub): a gitignored folder of the
# course, so that formgrader does not log an unwritable /usr/local/share/nbgrader/exchange.
c.Exchange.root = os.path.join(root, "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)  # nbgrader logs an error on every page while it is missing

# Late submissions: the grader records nbgrader's timestamp.txt as the submission time, and
# nbgrader's LateSubmissionPlugin turns the time past an assignment's due date (`nbgrader db
# assignment add NAME --duedate=...`) into a penalty: "none" (the default) or "zero".
c.LateSubmissionPlugin.penalty_method = os.environ.get("SEQLIB_LATE_PENALTY", "none")
