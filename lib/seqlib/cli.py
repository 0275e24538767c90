"""The command line: train language models, translators and classifiers; sample and translate.

Chapters: "Language models" (train lm, sample), "Sequence to sequence" (train seq2seq,
translate), "Stacked and bidirectional RNNs" (train classifier, classify).

    python -m seqlib train lm --data shakespeare --level char --cell lstm --layers 2 --hidden 512 --minutes 10
    python -m seqlib sample --checkpoint runs/lm-shakespeare/best.pt --temperature 0.8 --prime "ROMEO:"
    python -m seqlib train seq2seq --data en-ru-numbers --minutes 5
    python -m seqlib translate --checkpoint runs/seq2seq-en-ru-numbers/best.pt --beam 5 "forty-two"
    python -m seqlib train classifier --data sentiment --minutes 5
    python -m seqlib classify --checkpoint runs/classifier-sentiment/best.pt "A wonderful film."

Every train command takes --dry-run (two steps, for CI), --minutes (a time budget), --seed,
--device and --out (default runs/<task>-<data>; the best checkpoint is <out>/best.pt and the
history <out>/history.json). A checkpoint holds the weights, the model's config, the
vocabularies and the preprocessing as plain data (seqlib.torch.checkpoint), so the other
commands rebuild everything from it with torch.load(weights_only=True).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seqlib.vocab import BOS_ID, EOS_ID, Vocab

LM_DRY_RUN_CHARS = 200_000  # --dry-run trains on the start of a corpus: CI time, not quality


# --------------------------------------------------------------------------- shared helpers


def vocab_to_plain(vocab: Vocab) -> dict:
    """A Vocab as plain data for a checkpoint: {"level": ..., "tokens": [...]}."""
    return {"level": vocab.level, "tokens": list(vocab.itos)}


def vocab_from_plain(d: dict) -> Vocab:
    """The Vocab of vocab_to_plain's dict."""
    return Vocab(d["tokens"], d["level"])


def detokenize(words) -> str:
    """Words joined by spaces, without the space before closing punctuation or after an opening one."""
    text = " ".join(words)
    text = re.sub(r" ([.,;:!?)\]}%])", r"\1", text)
    return re.sub(r"([(\[{]) ", r"\1", text)


def _device(name):
    from seqlib.torch import device

    return device(name)


def _out_dir(args, task: str) -> Path:
    out = Path(args.out) if args.out else Path("runs") / f"{task}-{args.data}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _finish(trainer, out: Path, started: float) -> dict:
    (out / "history.json").write_text(json.dumps(trainer.history, indent=1, default=float))
    best = min(trainer.history, key=lambda r: r["valid_loss"])
    msg = (f"{trainer.stop_reason or 'done'}; {trainer.step} steps in {time.perf_counter() - started:.1f} s; "
           f"best valid loss {best['valid_loss']:.4f} nats (step {best['step']}); checkpoint {out / 'best.pt'}")
    print(msg, file=sys.stderr)
    return {"trainer": trainer, "model": trainer.model, "checkpoint": out / "best.pt", "history": trainer.history}


def _trainer_kwargs(args, out: Path) -> dict:
    return dict(lr=args.lr, clip=args.clip, schedule=None if args.schedule == "none" else args.schedule,
                patience=args.patience, eval_every=args.eval_every, max_epochs=args.epochs,
                max_steps=args.max_steps, max_minutes=args.minutes, checkpoint=out / "best.pt", seed=args.seed,
                dry_run=args.dry_run, progress=not args.quiet,
                autocast=torch.bfloat16 if args.autocast == "bf16" else None)


# --------------------------------------------------------------------------- train lm


def prepare_lm_data(name: str, level: str, max_vocab: int | None = None, dry_run: bool = False):
    """(vocab, train_ids (M,), valid_ids (M',)) of a text dataset; the vocabulary from train only."""
    from seqlib import data
    from seqlib.train import encode_text

    train, valid = data.load(name, "train"), data.load(name, "valid")
    if not isinstance(train, str):
        raise SystemExit(f"--data {name} is not a text corpus; `train lm` needs one of the text datasets")
    if dry_run:
        train, valid = train[:LM_DRY_RUN_CHARS], valid[:LM_DRY_RUN_CHARS // 10]
    vocab = Vocab.build(train, level=level, max_size=max_vocab)
    return vocab, encode_text(vocab, train), encode_text(vocab, valid)


def train_lm(args) -> dict:
    """`train lm`: an RNNLM on a text corpus with truncated BPTT. Returns trainer, model, checkpoint, history."""
    from seqlib.torch import RNNLM
    from seqlib.train import LMTask, Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    out = _out_dir(args, "lm")
    vocab, train_ids, valid_ids = prepare_lm_data(args.data, args.level, args.max_vocab, args.dry_run)
    seed_everything(args.seed)
    model = RNNLM(len(vocab), args.embed, args.hidden, num_layers=args.layers, cell=args.cell,
                  dropout=args.dropout, impl=args.impl).to(dev)
    task = LMTask(train_ids, valid_ids, batch_size=args.batch_size, seq_len=args.seq_len, device=dev)
    trainer = Trainer(model, task, vocab=vocab_to_plain(vocab),
                      extra={"task": "lm", "data": args.data}, eval_batches=args.eval_batches,
                      **_trainer_kwargs(args, out))
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train seq2seq


def prepare_pairs(name: str, level: str, min_freq: int, max_vocab: int | None, reverse_source: bool):
    """Vocabularies and id sequences of a pair dataset: train and valid, targets with <bos>/<eos>."""
    from seqlib import data

    train, valid = data.load(name, "train"), data.load(name, "valid")
    src_vocab = Vocab.build((s for s, _ in train), level=level, min_freq=min_freq, max_size=max_vocab)
    tgt_vocab = Vocab.build((t for _, t in train), level=level, min_freq=min_freq, max_size=max_vocab)

    def encode(pairs):
        srcs = [encode_source(src_vocab, s, reverse_source) for s, _ in pairs]
        tgts = [tgt_vocab.encode(t, bos=True, eos=True) for _, t in pairs]
        return srcs, tgts

    return src_vocab, tgt_vocab, encode(train), encode(valid)


def encode_source(vocab: Vocab, text: str, reverse: bool) -> np.ndarray:
    """(S,) source ids, never empty (an empty sentence becomes one <unk>); reversed when asked.

    Reading the source backwards puts its first words next to the first target words, the
    trick that made encoder-decoders without attention work (Sutskever et al., 2014).
    """
    ids = vocab.encode(text)
    if len(ids) == 0:
        ids = np.array([vocab.unk_id], dtype=np.int64)
    return ids[::-1].copy() if reverse else ids


def train_seq2seq(args) -> dict:
    """`train seq2seq`: an encoder-decoder on a pair dataset, teacher forcing. Returns as train_lm."""
    from seqlib.torch import Seq2Seq
    from seqlib.train import Seq2SeqTask, Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    out = _out_dir(args, "seq2seq")
    src_vocab, tgt_vocab, (tr_s, tr_t), (va_s, va_t) = prepare_pairs(
        args.data, args.level, args.min_freq, args.max_vocab, args.reverse_source)
    if args.max_len:
        # A few very long help paragraphs would set the padded width of whole batches; the
        # validation set stays complete so that its loss is comparable between runs.
        keep = [i for i in range(len(tr_s)) if len(tr_s[i]) <= args.max_len and len(tr_t[i]) <= args.max_len + 2]
        tr_s, tr_t = [tr_s[i] for i in keep], [tr_t[i] for i in keep]
    seed_everything(args.seed)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), args.embed, args.hidden, num_layers=args.layers,
                    cell=args.cell, dropout=args.dropout, impl=args.impl).to(dev)
    task = Seq2SeqTask(tr_s, tr_t, va_s, va_t, batch_size=args.batch_size, device=dev)
    trainer = Trainer(model, task, vocab={"src": vocab_to_plain(src_vocab), "tgt": vocab_to_plain(tgt_vocab)},
                      extra={"task": "seq2seq", "data": args.data, "reverse_source": args.reverse_source},
                      eval_batches=args.eval_batches, **_trainer_kwargs(args, out))
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train classifier


def prepare_classification(name: str, min_freq: int, max_vocab: int | None, lowercase: bool):
    """(vocab, labels, (train ids, train labels), (valid ids, valid labels)) of a (text, label) dataset."""
    from seqlib import data

    train, valid = data.load(name, "train"), data.load(name, "valid")
    norm = str.lower if lowercase else str
    vocab = Vocab.build((norm(t) for t, _ in train), level="word", min_freq=min_freq, max_size=max_vocab)

    def encode(pairs):
        return [encode_source(vocab, norm(t), False) for t, _ in pairs], [int(y) for _, y in pairs]

    labels = sorted({int(y) for _, y in train})
    return vocab, labels, encode(train), encode(valid)


def train_classifier(args) -> dict:
    """`train classifier`: a (bidirectional) SentenceClassifier. Returns as train_lm."""
    from seqlib.torch import SentenceClassifier
    from seqlib.train import ClassifierTask, Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    out = _out_dir(args, "classifier")
    vocab, labels, (tr_x, tr_y), (va_x, va_y) = prepare_classification(args.data, args.min_freq, args.max_vocab,
                                                                        not args.keep_case)
    seed_everything(args.seed)
    model = SentenceClassifier(len(vocab), args.embed, args.hidden, num_classes=max(labels) + 1,
                               num_layers=args.layers, cell=args.cell, bidirectional=not args.unidirectional,
                               dropout=args.dropout, impl=args.impl).to(dev)
    task = ClassifierTask(tr_x, tr_y, va_x, va_y, batch_size=args.batch_size, device=dev)
    trainer = Trainer(model, task, vocab=vocab_to_plain(vocab),
                      extra={"task": "classifier", "data": args.data, "lowercase": not args.keep_case},
                      eval_batches=args.eval_batches, **_trainer_kwargs(args, out))
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- using checkpoints


def _load(path, task: str):
    from seqlib.torch import load_model

    model, ckpt = load_model(path, map_location="cpu")
    if ckpt["extra"].get("task") != task:
        raise SystemExit(f"{path} holds a {ckpt['extra'].get('task')!r} model, expected a {task!r} one")
    model.eval()
    return model, ckpt


def translate_texts(model, src_vocab: Vocab, tgt_vocab: Vocab, texts, beam: int = 5, reverse_source: bool = True,
                    max_len: int | None = None, length_penalty: float = 0.0) -> list[str]:
    """Translations of texts by beam search (beam 1: greedy), one at a time."""
    from seqlib.decode import beam_search
    from seqlib.train import seq2seq_step_fn

    step = seq2seq_step_fn(model)
    outs = []
    for text in texts:
        src = encode_source(src_vocab, text, reverse_source)
        with torch.no_grad():
            state = model.encode(torch.as_tensor(src[None]), torch.as_tensor([len(src)]))
        hyps = beam_search(step, state, bos=BOS_ID, eos=EOS_ID, beam_size=beam,
                           max_len=max_len or 2 * len(src) + 10, length_penalty=length_penalty)
        outs.append(tgt_output(tgt_vocab, hyps[0].tokens))
    return outs


def tgt_output(tgt_vocab: Vocab, ids) -> str:
    """Target ids as text: characters joined, words detokenised; stops at <eos>."""
    text = tgt_vocab.decode(ids)
    if tgt_vocab.level == "word":
        text = detokenize(text.split(" "))
    return text


def cmd_sample(args) -> str:
    """`sample`: print the prime and what the language model writes after it; returns the new text."""
    from seqlib.train import sample_text

    model, ckpt = _load(args.checkpoint, "lm")
    vocab = vocab_from_plain(ckpt["vocab"])
    text = sample_text(model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    print((args.prime or "") + (" " if vocab.level == "word" and args.prime.strip() else "") + text)
    return text


def cmd_translate(args) -> list[str]:
    """`translate`: print one translation per input text (beam search); returns them."""
    model, ckpt = _load(args.checkpoint, "seq2seq")
    v = ckpt["vocab"]
    outs = translate_texts(model, vocab_from_plain(v["src"]), vocab_from_plain(v["tgt"]), args.text, args.beam,
                           ckpt["extra"].get("reverse_source", False), args.max_len)
    for o in outs:
        print(o)
    return outs


def cmd_classify(args) -> list[int]:
    """`classify`: print label, its probability and the text, one line each; returns the labels."""
    model, ckpt = _load(args.checkpoint, "classifier")
    vocab = vocab_from_plain(ckpt["vocab"])
    lower = ckpt["extra"].get("lowercase", False)
    preds = []
    for text in args.text:
        ids = encode_source(vocab, text.lower() if lower else text, False)
        with torch.no_grad():
            probs = torch.softmax(model(torch.as_tensor(ids[None]), lengths=torch.as_tensor([len(ids)])), -1)[0]
        preds.append(int(probs.argmax()))
        print(f"{preds[-1]}\t{float(probs.max()):.3f}\t{text}")
    return preds


# --------------------------------------------------------------------------- argparse


def _common_train(p, *, embed, hidden, layers, batch_size, lr, epochs, dropout, eval_every=None):
    p.add_argument("--data", required=True, help="a dataset name (python -m seqlib.data list)")
    p.add_argument("--cell", default="lstm", choices=("rnn", "lstm", "gru"))
    p.add_argument("--layers", type=int, default=layers)
    p.add_argument("--hidden", type=int, default=hidden)
    p.add_argument("--embed", type=int, default=embed)
    p.add_argument("--dropout", type=float, default=dropout)
    p.add_argument("--impl", default="fused", choices=("loop", "fused"),
                   help="fused: torch's kernels (fast); loop: the course's step-by-step code")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--clip", type=float, default=5.0, help="max global gradient norm")
    p.add_argument("--schedule", default="plateau", choices=("plateau", "none"))
    p.add_argument("--patience", type=int, default=4, help="evaluations without improvement before stopping")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=eval_every, help="steps between evaluations (default: each epoch)")
    p.add_argument("--eval-batches", type=int, default=None, help="validation batches per evaluation (default: all)")
    p.add_argument("--minutes", type=float, default=None, help="time budget")
    p.add_argument("--max-vocab", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:K (default: $SEQLIB_DEVICE, else cuda if available)")
    p.add_argument("--autocast", default="none", choices=("none", "bf16"),
                   help="bf16: training forward passes under torch.autocast in bfloat16 (fast with --impl fused "
                        "on a GPU); weights and evaluation stay float32")
    p.add_argument("--out", default=None, help="output folder (default runs/<task>-<data>)")
    p.add_argument("--dry-run", action="store_true", help="two training steps and a short evaluation (CI)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every command (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m seqlib", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="task", required=True)
    lm = train.add_parser("lm", help="a recurrent language model on a text corpus")
    _common_train(lm, embed=64, hidden=512, layers=2, batch_size=32, lr=2e-3, epochs=50, dropout=0.0,
                  eval_every=500)
    lm.add_argument("--level", default="char", choices=("char", "word"))
    lm.add_argument("--seq-len", type=int, default=100, help="T, the truncated-BPTT length")
    lm.set_defaults(func=train_lm)

    s2s = train.add_parser("seq2seq", help="an encoder-decoder translator on a pair dataset")
    _common_train(s2s, embed=128, hidden=256, layers=1, batch_size=64, lr=2e-3, epochs=30, dropout=0.0)
    s2s.add_argument("--level", default="word", choices=("char", "word"))
    s2s.add_argument("--min-freq", type=int, default=1)
    s2s.add_argument("--max-len", type=int, default=None, help="train only on pairs of at most this many tokens")
    s2s.add_argument("--no-reverse-source", dest="reverse_source", action="store_false",
                     help="read the source forwards (default: backwards, as Sutskever et al.)")
    s2s.set_defaults(func=train_seq2seq)

    clf = train.add_parser("classifier", help="a (bidirectional) sentence classifier")
    _common_train(clf, embed=100, hidden=128, layers=1, batch_size=32, lr=2e-3, epochs=20, dropout=0.3)
    clf.add_argument("--min-freq", type=int, default=2)
    clf.add_argument("--unidirectional", action="store_true")
    clf.add_argument("--keep-case", action="store_true", help="do not lowercase the text")
    clf.set_defaults(func=train_classifier)

    smp = sub.add_parser("sample", help="generate text from a language-model checkpoint")
    smp.add_argument("--checkpoint", required=True)
    smp.add_argument("--temperature", type=float, default=1.0)
    smp.add_argument("--length", type=int, default=500)
    smp.add_argument("--prime", default="\n")
    smp.add_argument("--top-k", type=int, default=None)
    smp.add_argument("--seed", type=int, default=0)
    smp.set_defaults(func=cmd_sample)

    tr = sub.add_parser("translate", help="translate sentences with a seq2seq checkpoint")
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument("--beam", type=int, default=5)
    tr.add_argument("--max-len", type=int, default=None)
    tr.add_argument("text", nargs="+")
    tr.set_defaults(func=cmd_translate)

    cl = sub.add_parser("classify", help="label sentences with a classifier checkpoint")
    cl.add_argument("--checkpoint", required=True)
    cl.add_argument("text", nargs="+")
    cl.set_defaults(func=cmd_classify)
    return parser


def main(argv=None):
    """Run one command; returns what it produced (a dict for train, text for sample ...)."""
    args = build_parser().parse_args(argv)
    return args.func(args)
