"""Character corpora of the lecture's char-rnn samples: Linux kernel C and LaTeX.

Chapter: "Language models" (generated C and LaTeX, and the interpretable cells: a cell that
is on inside comments and quotes, one inside if-conditions, as Karpathy, Johnson and
Fei-Fei 2015 found them in a model of the Linux kernel). Both come from Debian packages,
read from the .deb without installing it:

- ``linux-kernel``: every ``kernel/**/*.c`` of the Linux source tree in ``linux-source-6.1``
  (the tarball inside the package is read as a stream, once; the registry keeps the built
  text as a memo);
- ``latex``: the LaTeX source of Frank Brokken's C++ Annotations, a whole book
  (``c++-annotations-latex``).
"""

from __future__ import annotations

import gzip
import re
import tarfile
from pathlib import Path

from seqlib.data.archives import deb_data_tar

KERNEL_TARBALL = re.compile(r"^(\./)?usr/src/linux-source-[\d.]+\.tar\.xz$")
KERNEL_C = re.compile(r"^linux-source-[\d.]+/(kernel/.+\.c)$")
LATEX_BOOK = "usr/share/doc/c++-annotations/cplusplus.latex.gz"


def linux_kernel_text(deb: Path) -> str:
    """Every C file under ``kernel/`` of a linux-source .deb, sorted by path, each after a header.

    ``// ==== kernel/fork.c ====`` marks the start of each file. The files are decoded as
    UTF-8 (a byte that is not UTF-8 would become U+FFFD; kernel/ of 6.1 has none).
    """
    files: dict[str, str] = {}
    with deb_data_tar(Path(deb)) as outer:
        member = next((m for m in outer if KERNEL_TARBALL.match(m.name)), None)
        if member is None:
            raise ValueError(f"{deb} holds no usr/src/linux-source-*.tar.xz: not a linux-source package")
        with tarfile.open(fileobj=outer.extractfile(member), mode="r|xz") as inner:
            for m in inner:  # a stream: members in archive order, each read once
                match = KERNEL_C.match(m.name)
                if match and m.isfile():
                    files[match.group(1)] = inner.extractfile(m).read().decode("utf-8", errors="replace")
    if not files:
        raise ValueError(f"{deb}: the source tarball has no kernel/*.c files")
    return "".join(f"// ==== {name} ====\n{files[name]}" for name in sorted(files))


def latex_book_text(deb: Path) -> str:
    """The LaTeX source of the C++ Annotations (A4 edition) from c++-annotations-latex."""
    with deb_data_tar(Path(deb)) as tar:
        for m in tar:
            if m.name.lstrip("./") == LATEX_BOOK and m.isfile():
                return gzip.decompress(tar.extractfile(m).read()).decode("utf-8").replace("\r\n", "\n")
    raise ValueError(f"{deb} holds no {LATEX_BOOK}: not the c++-annotations-latex package")
