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

# Feedback shows scores and failures, not the hidden tests' code (and `make feedback` then
# removes what the page would load from another host: seqlib.grading.feedback).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "seqlib.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
