"""``python -m seqlib``: the course's command line (see seqlib.cli).

Chapters: "Language models", "Sequence to sequence".
"""

import sys

from seqlib.cli import run
from seqlib.cli_errors import BadArgument

if __name__ == "__main__":
    try:
        run()
    except BadArgument as err:
        sys.exit(str(err))  # one line, status 1
