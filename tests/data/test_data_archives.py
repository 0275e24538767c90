"""The ar / .deb reader against hand-written archives and, where present, dpkg-deb."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from seqlib.data.archives import ar_members, deb_data_tar


@pytest.mark.parametrize("gnu", [False, True])
def test_ar_members_round_trip_with_odd_sizes(tmp_path, archives, gnu):
    members = [("debian-binary", b"2.0\n"), ("odd", b"abc"), ("empty", b""), ("after-odd", b"xyz!\n")]
    path = tmp_path / "x.a"
    path.write_bytes(archives.ar_bytes(members, gnu_names=gnu))
    assert list(ar_members(path)) == members


def test_ar_members_rejects_other_files(tmp_path):
    p = tmp_path / "not.deb"
    p.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="not an ar archive"):
        list(ar_members(p))
    p.write_bytes(b"!<arch>\n" + b"short header")
    with pytest.raises(ValueError, match="corrupt"):
        list(ar_members(p))


def test_deb_data_tar_reads_the_installed_files(tmp_path, archives):
    files = {"usr/share/a.txt": b"alpha\n", "usr/share/sub/b.html": "<p>β</p>".encode()}
    deb = archives.make_deb(tmp_path / "fake.deb", files)
    with deb_data_tar(deb) as tar:
        got = {m.name.lstrip("./"): tar.extractfile(m).read() for m in tar if m.isfile()}
    assert got == files


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not installed")
def test_synthetic_deb_is_a_real_deb_for_dpkg(tmp_path, archives):
    # the fixture used by the en-ru-help tests must be what dpkg itself accepts
    files = {"usr/share/x/y.html": b"<p id='par_id1'>hi</p>"}
    deb = archives.make_deb(tmp_path / "fake.deb", files)
    out = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True, capture_output=True)
    assert (out / "usr/share/x/y.html").read_bytes() == files["usr/share/x/y.html"]


def test_deb_without_data_member_is_refused(tmp_path, archives):
    p = tmp_path / "bad.deb"
    p.write_bytes(archives.ar_bytes([("debian-binary", b"2.0\n")]))
    with pytest.raises(ValueError, match="no data.tar"):
        deb_data_tar(p)
