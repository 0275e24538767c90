"""seqlib.numpy: every layer of the course with a hand-written backward pass.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward(dout, cache)``
returns the gradients of the forward's array arguments, in the same order. A cache
holds what the backward needs and nothing else. Shape letters: see ``seqlib``.
"""

from seqlib.numpy.rnn import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
]
