"""Reading files out of package archives without installing them.

Wheels are zip files (``zipfile``), sdists are tar.gz (``tarfile``), and a Debian ``.deb``
is an ``ar`` archive holding ``debian-binary``, ``control.tar.*`` and ``data.tar.*``. The
standard library has no ``ar`` reader, so :func:`ar_members` is one (the format is a
magic line, then for each member a 60-byte text header and the data, padded to even size).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

AR_MAGIC = b"!<arch>\n"


def ar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, data) of every member of an ar archive, in order."""
    with open(path, "rb") as f:
        if f.read(8) != AR_MAGIC:
            raise ValueError(f"{path} is not an ar archive (a .deb starts with {AR_MAGIC!r})")
        while True:
            header = f.read(60)
            if not header:
                return
            if len(header) < 60 or header[58:60] != b"`\n":
                raise ValueError(f"{path}: corrupt ar member header {header!r}")
            name = header[:16].decode("ascii").rstrip(" ").rstrip("/")  # GNU ar ends names with '/'
            size = int(header[48:58].decode("ascii").strip())
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"{path}: member {name!r} is truncated")
            if size % 2:
                f.read(1)
            yield name, data


def deb_data_tar(path: Path) -> tarfile.TarFile:
    """The data.tar.* of a .deb (the files it would install), opened for reading."""
    for name, data in ar_members(path):
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".zst"):
            # tarfile reads zstd only from Python 3.14; dpkg-deb can always unpack its own format
            if shutil.which("dpkg-deb") is None:
                raise RuntimeError(f"{path} is compressed with zstd: install dpkg (dpkg-deb) or use Python 3.14+")
            raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(path)], check=True, capture_output=True).stdout
            return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    raise ValueError(f"{path} has no data.tar member: not a Debian package")
