"""seqlib.torch: the course's recurrent networks as torch.nn modules.

Chapters: "Sequences and the vanilla RNN" (rnn), "LSTM and GRU" (lstm, gru), "Stacked and
bidirectional RNNs" (stacked, classifier), "Language models" (lm, device, checkpoint),
"Sequence to sequence" (seq2seq), "Attention" (attention, Seq2Seq(attention=...)).

RNN, LSTM and GRU (and their cells) take torch.nn's constructor arguments and have
torch.nn's parameter names, so state dicts load both ways; batch_first=True is the
default here, as everywhere in seqlib. ``impl="loop"`` runs our step-by-step code (the
equations of seqlib.numpy), ``impl="fused"`` torch's kernels (cuDNN on a GPU); both give
the same numbers. The models are built from config dataclasses (LMConfig, ClassifierConfig,
Seq2SeqConfig), which their checkpoints store as plain data. Shape letters: see ``seqlib``.
"""

from seqlib.torch.checkpoint import load, load_model, save
from seqlib.torch.classifier import ClassifierConfig, SentenceClassifier
from seqlib.torch.device import device
from seqlib.torch.gru import GRU, GRUCell, gru_layer, gru_layer_autograd, gru_step
from seqlib.torch.lm import LMConfig, RNNLM
from seqlib.torch.lstm import LSTM, LSTMCell, lstm_layer, lstm_layer_autograd, lstm_step
from seqlib.torch.rnn import RNN, RNNCell, rnn_layer, rnn_layer_autograd, rnn_step
from seqlib.torch.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlib.torch.model_parts import make_rnn
from seqlib.torch.attention import Attention

__all__ = [
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "make_rnn",
    "rnn_step", "rnn_layer", "rnn_layer_autograd",
    "lstm_step", "lstm_layer", "lstm_layer_autograd",
    "gru_step", "gru_layer", "gru_layer_autograd",
    "RNNLM", "SentenceClassifier", "Seq2Seq", "LMConfig", "ClassifierConfig", "Seq2SeqConfig",
    "device", "save", "load", "load_model", "Attention",
]
