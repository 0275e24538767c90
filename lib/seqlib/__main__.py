"""``python -m seqlib``: the course's command line (see seqlib.cli).

Chapters: "Language models", "Sequence to sequence".
"""

from seqlib.cli import main

if __name__ == "__main__":
    main()
