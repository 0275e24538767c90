"""The grading channel: plain data both ways, never pickle; malformed bytes are refused, not trusted."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

from seqlib.grading.channel import UNTRUSTED, Encoder, ProtocolError, decode, pack, read_message


def _roundtrip(value, keep=None):
    enc = Encoder(keep)
    header = {"v": enc.value(value) if keep else enc.plain(value)}
    data = pack(header, enc.arrays)
    buf = io.BytesIO(data)
    got, arrays = read_message(buf.read)
    assert buf.read() == b"", "a message is read exactly to its end"
    return decode(got["v"], arrays, resolve=lambda node, dec: ("handle", node["$h"]))


def test_plain_values_survive_the_channel():
    rng = np.random.default_rng(0)
    value = {"x": rng.normal(size=(3, 4)), "ids": np.arange(5, dtype=np.int64), "mask": np.array([True, False]),
             "nested": [1, 2.5, None, "text", (np.float32(1.5), -0.0)], "inf": float("inf"), "nan": float("nan"),
             "empty": np.zeros((0, 3))}
    got = _roundtrip(value)
    for key in ("x", "ids", "mask", "empty"):
        assert got[key].dtype == value[key].dtype and got[key].shape == value[key].shape
        np.testing.assert_array_equal(got[key], value[key])
    assert got["nested"] == [1, 2.5, None, "text", (1.5, -0.0)]
    assert got["inf"] == float("inf") and np.isnan(got["nan"])
    got["x"][0, 0] = 99.0  # received arrays are the receiver's own, writable copies


def test_zero_dimensional_arrays_and_tensors_keep_their_shape():
    torch = pytest.importorskip("torch")
    enc = Encoder(None, torch)
    header = {"v": enc.plain({"a": np.array(2.5), "t": torch.tensor(3.0, dtype=torch.float64), "f": np.asfortranarray(
        np.arange(6.0).reshape(2, 3))})}
    got, arrays = read_message(io.BytesIO(pack(header, enc.arrays)).read)
    got = decode(got["v"], arrays, torch=torch)
    assert got["a"].shape == () and float(got["a"]) == 2.5
    assert isinstance(got["t"], torch.Tensor) and got["t"].shape == () and float(got["t"]) == 3.0
    np.testing.assert_array_equal(got["f"], np.arange(6.0).reshape(2, 3))


def test_what_a_function_returns_keeps_caches_in_the_worker():
    kept = []

    def keep(obj):
        kept.append(obj)
        return len(kept)

    h = np.ones((2, 3))
    cache = (h, [h, h])
    got = _roundtrip((h, cache, {"dW": h}), keep=keep)
    assert isinstance(got, tuple) and got[1] == ("handle", 1) and kept == [cache]
    np.testing.assert_array_equal(got[0], h)
    np.testing.assert_array_equal(got[2]["dW"], h)


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object()], dtype=object),
                                 np.zeros(2, dtype=[("a", "f8")])])
def test_arrays_of_anything_but_numbers_are_refused(bad):
    with pytest.raises(TypeError, match="cannot be sent"):
        Encoder().plain(bad)


def test_objects_are_refused_where_no_handle_may_stand_for_them():
    with pytest.raises(TypeError, match="cannot be sent"):
        Encoder().plain({"f": lambda: 0})


def _frame(header_bytes: bytes, body: bytes = b"") -> bytes:
    rest = struct.pack(">I", len(header_bytes)) + header_bytes + body
    return struct.pack(">Q", len(rest)) + rest


@pytest.mark.parametrize("data, why", [
    (struct.pack(">Q", 1 << 40), "a message of"),
    (_frame(b"not json"), "unreadable header"),
    (_frame(b'{"arrays": "x"}'), "not a message"),
    (_frame(b'{"arrays": [["|O", [1]]]}', b"\0" * 8), "dtype"),
    (_frame(b'{"arrays": [["<U4", [1]]]}', b"\0" * 16), "dtype"),
    (_frame(b'{"arrays": [["<f8", [10]]]}', b"\0" * 8), "longer than the message"),
    (_frame(b'{"arrays": [["<f8", [1]]]}', b"\0" * 16), "left over"),
    (_frame(b'{"arrays": [["<f8", [-1]]]}', b"\0" * 8), "bad array"),
])
def test_malformed_messages_are_protocol_errors(data, why):
    with pytest.raises(ProtocolError, match=why):
        read_message(io.BytesIO(data).read)


def test_unknown_references_are_protocol_errors():
    with pytest.raises(ProtocolError):
        decode({"$h": 3}, [], resolve=None)
    with pytest.raises(ProtocolError):
        decode({"$a": 2}, [np.zeros(1)])
    with pytest.raises(ProtocolError):
        decode({"$f": "1e999"}, [])


def test_the_files_the_sandbox_gets_import_no_seqlib():
    """worker.py, channel.py and harness.py run where seqlib is not installed."""
    import ast
    from pathlib import Path

    import seqlib.grading

    folder = Path(seqlib.grading.__file__).parent
    for name in ("worker.py", "channel.py", "harness.py"):
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(m.split(".")[0] == "seqlib" for m in imported), (name, imported)


def test_numpy_scalars_keep_their_type():
    got = _roundtrip([np.float32(1.5), np.float64(2.5), np.int64(3), np.int8(-1), np.bool_(True), 2.5, 3, True])
    assert [type(v) for v in got] == [np.float32, np.float64, np.int64, np.int8, np.bool_, float, int, bool]
    assert got[:5] == [1.5, 2.5, 3, -1, True]


def _message(header: dict, arrays=()) -> tuple[dict, list]:
    return read_message(io.BytesIO(pack(header, list(arrays))).read, UNTRUSTED)


def test_a_reply_cannot_make_the_grader_build_more_than_it_sent():
    header, arrays = _message({"v": [{"$a": 0}, {"$a": 0}]}, [np.zeros(1000)])
    with pytest.raises(ProtocolError, match="referred to twice"):
        decode(header["v"], arrays, caps=UNTRUSTED)
    header, arrays = _message({"v": [0] * (UNTRUSTED.nodes + 1)})
    with pytest.raises(ProtocolError, match="more than"):
        decode(header["v"], arrays, caps=UNTRUSTED)
    deep = []
    for _ in range(UNTRUSTED.depth + 5):
        deep = [deep]
    header, arrays = _message({"v": deep})
    with pytest.raises(ProtocolError, match="nested"):
        decode(header["v"], arrays, caps=UNTRUSTED)


@pytest.mark.parametrize("data, why", [
    (struct.pack(">Q", UNTRUSTED.message_bytes + 1), "a message of"),
    (_frame(b'{"arrays": [], "x": "' + b"a" * (UNTRUSTED.header_bytes + 1) + b'"}'), "header"),
    (_frame(b'{"arrays": [["<f8", [' + b",".join([b"1"] * 40) + b']]]}', b"\0" * 8), "bad array"),
    (_frame(b'{"arrays": [["<f8", [1099511627776, 0]]]}'), "bad array"),
    (_frame(b'{"arrays": [], "n": 1' + b"0" * 5000 + b'}'), "unreadable header"),
])
def test_untrusted_caps_are_checked_before_anything_is_allocated(data, why):
    with pytest.raises(ProtocolError, match=why):
        read_message(io.BytesIO(data).read, UNTRUSTED)


def test_a_lone_surrogate_becomes_writable_text():
    header, arrays = _message({"v": {"$d": {"k\ud800": "bad \udcff text"}}})
    got = decode(header["v"], arrays, caps=UNTRUSTED)
    assert got == {"k?": "bad ? text"}
    json.dumps(got, ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError
