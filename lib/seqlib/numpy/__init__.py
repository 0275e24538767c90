"""seqlib.numpy: every layer of the course with a hand-written backward pass.

Each ``*_forward`` returns ``(out, cache)``; the matching ``*_backward(dout, cache)``
returns the gradients of the forward's array arguments, in the same order. A cache
holds what the backward needs and nothing else. Shape letters: see ``seqlib``.

Built chapter by chapter, from "Sequences and the vanilla RNN" (rnn) to "Sequence to
sequence" (seq2seq.Seq2Seq) and "Attention" (attention); each module's docstring names its own
chapter.
"""

from seqlib.numpy import convert
from seqlib.numpy.convert import from_torch_state_dict, to_torch_state_dict
from seqlib.numpy.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward
from seqlib.numpy.layers import (
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)
from seqlib.numpy.lstm import (
    lstm_backward,
    lstm_backward_with_cell,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)
from seqlib.numpy.rnn import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)
from seqlib.numpy.stacked import init_stacked_params, stacked_backward, stacked_forward
from seqlib.numpy.bptt import bptt_chunks, make_streams, train_lm, train_truncated_bptt, truncated_bptt
from seqlib.numpy.clip import clip_grad_norm, clip_grad_value, global_norm
from seqlib.numpy.gradflow import (
    hidden_gradient_norms,
    hidden_jacobian_norms,
    hidden_jacobians,
    recurrent_singular_values,
)
from seqlib.numpy.classifier import SentenceClassifier
from seqlib.numpy.lm import RNNLM
from seqlib.numpy.seq2seq import Seq2Seq, shift_right
from seqlib.numpy.optim import SGD, Adagrad, Adam, Momentum
from seqlib.numpy.attention import attention_backward, attention_forward, init_attention_params

__all__ = [
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "word_embedding_forward",
    "word_embedding_backward",
    "temporal_affine_forward",
    "temporal_affine_backward",
    "temporal_softmax_loss",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "lstm_backward_with_cell",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
    "stacked_forward",
    "stacked_backward",
    "init_stacked_params",
    "convert",
    "to_torch_state_dict",
    "from_torch_state_dict",
    "SGD",
    "Momentum",
    "Adagrad",
    "Adam",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "make_streams",
    "bptt_chunks",
    "truncated_bptt",
    "train_truncated_bptt",
    "train_lm",
    "RNNLM",
    "SentenceClassifier",
    "Seq2Seq",
    "shift_right",
    "hidden_gradient_norms",
    "hidden_jacobians",
    "hidden_jacobian_norms",
    "recurrent_singular_values",
    "attention_forward",
    "attention_backward",
    "init_attention_params",
]
