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

# A cell that runs longer than this is interrupted and counts as failed; the student's
# other cells still run and the rest of the class is still graded. Our hidden tests
# take well under a second each, so a minute is generous even on a slow laptop.
c.Execute.timeout = int(os.environ.get("SEQLIB_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True

# Feedback shows scores and failures, not the hidden tests' code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "seqlib.grading.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
