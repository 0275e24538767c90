"""seqlib.torch.generate: batched greedy translation is seqlib.decode's greedy, translate and sample_text."""

import numpy as np
import torch

from seqlib.decode import greedy
from seqlib.torch import Seq2Seq
from seqlib.torch.generate import greedy_translate, seq2seq_step_fn
from seqlib.vocab import BOS_ID, EOS_ID


def test_greedy_translate_equals_seqlib_decode_greedy():
    torch.manual_seed(0)
    model = Seq2Seq(9, 8, 6, 10, cell="gru").eval()
    rng = np.random.default_rng(0)
    srcs = [rng.integers(4, 9, size=n) for n in (1, 5, 3, 7, 2)]
    got = greedy_translate(model, srcs, batch_size=2, max_len=6)
    step = seq2seq_step_fn(model)
    for src, out in zip(srcs, got):
        with torch.no_grad():
            state = model.encode(torch.as_tensor(src[None]), torch.as_tensor([len(src)]))
        hyp = greedy(step, state, bos=BOS_ID, eos=EOS_ID, max_len=6)
        want = [t for t in hyp.tokens if t != EOS_ID]
        assert out == want, f"batched greedy {out} differs from seqlib.decode.greedy {want} for source {src}"
