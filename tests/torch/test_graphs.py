"""seqlib.torch.graphs' bookkeeping, on the CPU, with a stand-in for the CUDA graph.

A real CUDA graph needs a GPU (test_cuda.py records one there). What a graph does can be
mimicked: recording runs fn once on fixed input buffers, and a replay recomputes fn from
those same buffers into the same output buffers. With that stand-in, these tests check
what run() itself is responsible for: copying each call's inputs in, one recording per
shape, None inputs as part of the key, and outputs that survive the next call.
"""

import pytest
import torch

import seqlib.torch as st
from seqlib.torch import graphs
from torch_helpers import assert_close


class StandInGraph:
    def __init__(self, fn, static_in):
        self.fn, self.static_in = fn, static_in
        self.static_out = tuple(fn(*static_in))
        self.replays = 0

    def replay(self):
        self.replays += 1
        for buf, new in zip(self.static_out, self.fn(*self.static_in)):
            buf.copy_(new)


@pytest.fixture
def recorded(monkeypatch):
    """Every graphs.run call goes through the stand-in; yields the list of recordings."""
    recordings = []

    def capture(fn, inputs):
        static_in = [None if t is None else t.detach().clone() for t in inputs]
        graph = StandInGraph(fn, static_in)
        recordings.append(graph)
        return graph, static_in, graph.static_out

    monkeypatch.setattr(graphs, "enabled", lambda example: True)
    monkeypatch.setattr(graphs, "_capture", capture)
    graphs.clear()
    yield recordings
    graphs.clear()


def _lstm_grads(m, x, lengths):
    m.zero_grad()
    x.grad = None
    out, (h_n, c_n) = m(x, lengths=lengths)
    (out.square().sum() + c_n.sum()).backward()
    return [out.detach(), h_n.detach(), c_n.detach(), x.grad] + [p.grad for p in m.parameters()]


def test_recorded_lstm_matches_eager_and_records_once_per_shape(recorded):
    m = st.LSTM(5, 8, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(4, 7, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(graphs, "enabled", lambda example: False)
        want = _lstm_grads(m, x, lengths)
    for call in range(3):
        got = _lstm_grads(m, x, lengths)
        for k, (a, b) in enumerate(zip(got, want)):
            assert_close(f"call {call}, tensor {k}", a, b, 1e-12)
    # all four layer-directions share shapes: one forward and one backward recording, replayed
    assert len(recorded) == 2, [g.fn.__name__ for g in recorded]
    assert [g.replays for g in recorded] == [12, 12]


def test_new_inputs_are_copied_in_and_old_outputs_survive(recorded):
    def double(a, b):
        return (a * 2 + (0 if b is None else b),)

    a1, a2 = torch.ones(3), torch.full((3,), 5.0)
    (first,) = graphs.run("double", double, a1, None)
    (second,) = graphs.run("double", double, a2, None)
    assert torch.equal(first, torch.full((3,), 2.0)), "an earlier output was overwritten by a replay"
    assert torch.equal(second, torch.full((3,), 10.0)), "the second call did not see its inputs"
    (with_b,) = graphs.run("double", double, a1, torch.ones(3))
    assert torch.equal(with_b, torch.full((3,), 3.0))
    graphs.run("double", double, torch.ones(4), None)
    assert len(recorded) == 3  # (a, None), (a, b) and the new shape each get their own


def test_oldest_recording_is_dropped_past_the_limit(recorded, monkeypatch):
    monkeypatch.setattr(graphs, "MAX_GRAPHS", 2)
    for n in (1, 2, 3):
        graphs.run("id", lambda a: (a + 0,), torch.ones(n))
    assert len(graphs._graphs) == 2
    graphs.run("id", lambda a: (a + 0,), torch.ones(1))  # was dropped: recorded again
    assert len(recorded) == 4


def test_graphs_are_off_on_the_cpu():
    assert not graphs.enabled(torch.ones(1))
