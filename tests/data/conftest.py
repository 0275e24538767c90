"""Fixtures for seqlib.data: a private cache folder and tiny synthetic package archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "network: downloads from PyPI (deselect with -m 'not network'; skips itself when offline)")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """SEQLIB_CACHE pointing at an empty folder, and no dataset remembered from other tests."""
    from seqlib.data import registry

    root = tmp_path / "cache"
    monkeypatch.setenv("SEQLIB_CACHE", str(root))
    monkeypatch.setattr(registry, "_built", {})
    monkeypatch.setattr(registry, "_observed_sha256", {})
    return root


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ar_bytes(members: list[tuple[str, bytes]], gnu_names: bool = False) -> bytes:
    """An ar archive, written field by field as ar(5) describes it."""
    out = [b"!<arch>\n"]
    for name, data in members:
        label = name + "/" if gnu_names else name
        header = f"{label:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode("ascii")
        assert len(header) == 60
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def make_deb(path: Path, files: dict[str, bytes]) -> Path:
    """A minimal .deb: debian-binary, control.tar.xz, data.tar.xz holding ``files``."""
    control = tar_bytes({"./control": b"Package: fake\nVersion: 1\nArchitecture: all\n"
                                      b"Maintainer: x <x@example.org>\nDescription: fake\n"}, "w:xz")
    data = tar_bytes({"./" + k: v for k, v in files.items()}, "w:xz")
    path.write_bytes(ar_bytes([("debian-binary", b"2.0\n"), ("control.tar.xz", control), ("data.tar.xz", data)]))
    return path


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


@pytest.fixture
def archives():
    """The helpers above, for tests that build their own fixtures."""
    class A:
        pass
    a = A()
    a.tar_bytes, a.ar_bytes, a.make_deb, a.make_wheel = tar_bytes, ar_bytes, make_deb, make_wheel
    return a
