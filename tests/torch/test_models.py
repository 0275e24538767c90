"""RNNLM, SentenceClassifier and Seq2Seq: tiny models that must learn, and agree across impls."""

import numpy as np
import pytest
import torch

import seqlib.torch as st
from torch_helpers import assert_close


def train(model, loss_fn, steps, lr=0.05):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return loss.item()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnnlm_learns_a_cyclic_sequence(cell):
    """After a few dozen steps the next token of 0 1 2 3 4 0 1 ... is predictable."""
    V = 5
    seq = torch.arange(60) % V
    data = torch.stack([seq[k:k + 12] for k in range(0, 40, 10)])  # (4, 12)
    x, y = data[:, :-1], data[:, 1:]
    model = st.RNNLM(V, 8, 16, cell=cell)
    before = torch.nn.functional.cross_entropy(model(x)[0].reshape(-1, V), y.reshape(-1)).item()
    after = train(model, lambda: torch.nn.functional.cross_entropy(model(x)[0].reshape(-1, V), y.reshape(-1)), 40)
    assert after < 0.1 < before, f"loss {before:.3f} -> {after:.3f}, expected to fall below 0.1"


def test_rnnlm_tied_weights_and_impls_agree():
    model = st.RNNLM(11, 8, 8, num_layers=2, tie_weights=True, dropout=0.3).double().eval()
    assert model.out.weight is model.embed.weight
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in st.RNNLM(11, 8, 8, num_layers=2).parameters())
    tokens = torch.randint(0, 11, (3, 6))
    model.impl = "fused"
    want, (h, c) = model(tokens)
    model.impl = "loop"
    got, (h2, c2) = model(tokens)
    assert_close("logits", got, want, 1e-12)
    # Carrying the state over: two halves give the same logits as the whole.
    first, state = model(tokens[:, :3])
    second, _ = model(tokens[:, 3:], state)
    assert_close("logits with carried state", torch.cat([first, second], 1), want, 1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_classifier_ignores_padding(cell):
    model = st.SentenceClassifier(9, 6, 5, num_classes=3, cell=cell, bidirectional=True, num_layers=2).double()
    short = torch.tensor([[1, 2, 3]])
    padded = torch.tensor([[1, 2, 3, 8, 8], [4, 5, 6, 7, 1]])
    alone = model(short)
    for impl in ("loop", "fused"):
        model.impl = impl
        both = model(padded, lengths=torch.tensor([3, 5]))
        assert both.shape == (2, 3)
        assert_close(f"{impl}: logits of the padded sentence", both[:1], alone, 1e-12)


def test_classifier_learns_which_token_is_present():
    torch.manual_seed(1)
    tokens = torch.randint(1, 6, (32, 7))
    lengths = torch.randint(3, 8, (32,))
    labels = torch.stack([(tokens[n, :lengths[n]] == 5).any() for n in range(32)]).long()
    model = st.SentenceClassifier(6, 8, 16, num_classes=2, bidirectional=True)
    loss = train(model, lambda: torch.nn.functional.cross_entropy(model(tokens, lengths), labels), 60)
    accuracy = (model(tokens, lengths).argmax(1) == labels).float().mean().item()
    assert accuracy == 1.0, f"training accuracy {accuracy:.2f} (loss {loss:.3f}), expected 1.0"


def test_seq2seq_learns_to_copy():
    torch.manual_seed(2)
    V, BOS = 6, 0
    src = torch.randint(1, V, (32, 4))
    tgt = torch.cat([torch.full((32, 1), BOS), src], 1)  # decoder input BOS y1..y4, predicts y1..y4 EOS->
    model = st.Seq2Seq(V, V, 12, 32)

    def loss_fn():
        logits = model(src, tgt[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))

    loss = train(model, loss_fn, 120, lr=0.03)
    # Greedy decoding with step(), the interface of seqlib.decode.
    model.eval()
    state, tok, out = model.encode(src), torch.full((32,), BOS), []
    with torch.no_grad():
        for _ in range(4):
            log_probs, state = model.step(tok, state)
            tok = log_probs.argmax(1)
            out.append(tok)
    accuracy = (torch.stack(out, 1) == src).float().mean().item()
    assert accuracy > 0.9, f"copy accuracy {accuracy:.2f} (loss {loss:.3f}), expected > 0.9"


def test_seq2seq_step_and_teacher_forcing_agree_with_forward():
    model = st.Seq2Seq(7, 9, 6, 8, num_layers=2, cell="gru").double().eval()
    src, tgt = torch.randint(0, 7, (3, 5)), torch.randint(0, 9, (3, 4))
    logits = model(src, tgt)
    # step() fed the teacher tokens gives the same distributions as the one-call decoder.
    state = model.encode(src)
    for t in range(4):
        log_probs, state = model.step(tgt[:, t], state)
        assert log_probs.shape == (3, 9)
        assert_close(f"step {t}", log_probs, torch.log_softmax(logits[:, t], -1), 1e-12)
    # teacher_forcing_ratio=0 feeds back the argmax: the same as greedy decoding with step().
    free = model(src, tgt, teacher_forcing_ratio=0.0)
    state, tok = model.encode(src), tgt[:, 0]
    for t in range(4):
        log_probs, state = model.step(tok, state)
        assert_close(f"free-running step {t}", torch.log_softmax(free[:, t], -1), log_probs, 1e-12)
        tok = log_probs.argmax(1)
    # In between: step 0 always reads tgt[:, 0]; later steps mix both sources, reproducibly.
    mixed = model(src, tgt, teacher_forcing_ratio=0.5, generator=torch.Generator().manual_seed(0))
    again = model(src, tgt, teacher_forcing_ratio=0.5, generator=torch.Generator().manual_seed(0))
    assert_close("step 0", mixed[:, 0], logits[:, 0], 1e-12)
    assert_close("same generator seed", mixed, again, 0.0)
    assert (mixed - logits).abs().max() > 1e-6 and (mixed - free).abs().max() > 1e-6


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnnlm_step_is_the_decode_step_function(cell):
    """step() fed a sequence token by token gives forward()'s distributions, state batch-first."""
    from seqlib.decode import beam_search, greedy

    model = st.RNNLM(11, 6, 8, num_layers=2, cell=cell).double().eval()
    tokens = torch.randint(0, 11, (3, 5))
    logits, _ = model(tokens)
    state = None
    with torch.no_grad():
        for t in range(5):
            log_probs, state = model.step(tokens[:, t].numpy(), state)  # NumPy ids, as decode passes
            assert_close(f"step {t}", log_probs, torch.log_softmax(logits[:, t], -1), 1e-12)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (3, 2, 8), "the state must be batch-first (N, L, H) for seqlib.decode"
    with torch.no_grad():
        start = model.step(np.array([4]), None)[1]
        best = beam_search(model.step, start, bos=4, eos=0, beam_size=1, max_len=6)[0]
        assert best.tokens == greedy(model.step, start, bos=4, eos=0, max_len=6).tokens


def test_model_impl_switches_every_recurrent_layer_and_rejects_unknown_names():
    model = st.Seq2Seq(5, 6, 4, 8, num_layers=2, cell="lstm", impl="loop")
    assert model.impl == "loop"
    model.impl = "fused"
    assert model.encoder.impl == model.decoder.impl == "fused"
    with pytest.raises(ValueError, match="impl is 'cudnn', expected one of"):
        model.impl = "cudnn"
    assert model.impl == "fused"


@pytest.mark.parametrize("score", ["dot", "bilinear", "additive"])
def test_seq2seq_with_attention_steps_like_forward_and_ignores_source_padding(score):
    torch.manual_seed(3)
    model = st.Seq2Seq(7, 9, 6, 8, num_layers=2, cell="lstm", attention=score).double().eval()
    src, tgt, lengths = torch.randint(0, 7, (3, 5)), torch.randint(0, 9, (3, 4)), torch.tensor([5, 2, 4])
    logits = model(src, tgt, lengths)
    state = model.encode(src, lengths)
    assert len(state) == 3 and state[1].shape == (3, 5, 8), "(recurrent state, encoder outputs, lengths)"
    for t in range(4):
        log_probs, state = model.step(tgt[:, t], state)
        assert_close(f"step {t}", log_probs, torch.log_softmax(logits[:, t], -1), 1e-12)
    # Other tokens under the padding, and two more padded steps: nothing may change.
    noise = torch.randint(0, 7, (3, 7))
    padded = torch.where(torch.arange(7) < lengths[:, None], torch.nn.functional.pad(src, (0, 2)), noise)
    assert_close("padded source", model(padded, tgt, lengths), logits, 1e-12)
    weights = model.alignments(padded, tgt, lengths).detach()
    assert weights.shape == (3, 4, 7) and float(weights[1, :, 2:].abs().max()) == 0.0
    assert_close("each row sums to 1", weights.sum(-1), torch.ones(3, 4, dtype=torch.float64), 1e-12)


def test_attention_learns_to_look_at_the_token_it_copies():
    """A copy task of 8 tokens: the decoder's alignment for output t peaks on source token t."""
    torch.manual_seed(0)
    V, BOS, S = 12, 0, 8
    src = torch.randint(1, V, (64, S))
    tgt = torch.cat([torch.full((64, 1), BOS), src], 1)
    model = st.Seq2Seq(V, V, 16, 32, cell="gru", attention="dot")

    def loss_fn():
        logits = model(src, tgt[:, :-1])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt[:, 1:].reshape(-1))

    loss = train(model, loss_fn, 150, lr=0.02)
    model.eval()
    with torch.no_grad():
        peaks = model.alignments(src, tgt[:, :-1]).argmax(-1)  # (N, T): where output t looked
    on_diagonal = (peaks == torch.arange(S)).float().mean().item()
    assert on_diagonal > 0.8, f"{on_diagonal:.2f} of the alignments peak on the copied token (loss {loss:.3f})"
    with pytest.raises(ValueError, match="alignments needs a model with attention"):
        st.Seq2Seq(V, V, 4, 4).alignments(src, tgt)
