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
import sys
import time
from pathlib import Path

import torch

from seqlib.data.prepare import encode_source, prepare_classification, prepare_lm_data, prepare_pairs
from seqlib.vocab import Vocab

LM_DRY_RUN_CHARS = 200_000  # --dry-run trains on the start of a corpus: CI time, not quality


# --------------------------------------------------------------------------- shared helpers


def _device(name):
    from seqlib.torch import device

    return device(name)


def _out_dir(args, task: str) -> Path:
    out = Path(args.out) if args.out else Path("runs") / f"{task}-{args.data}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _finish(trainer, out: Path, started: float) -> dict:
    """Write <out>/history.json and <out>/run.json (how the run ended), and say it in one line."""
    (out / "history.json").write_text(json.dumps(trainer.history, indent=1, default=float))
    best = min(trainer.history, key=lambda r: r["valid_loss"])
    run = {"stop_reason": trainer.stop_reason or "done", "steps": trainer.step,
           "seconds": round(time.perf_counter() - started, 1), "best_step": best["step"],
           "best_valid_loss": best["valid_loss"], "checkpoint": str(out / "best.pt")}
    (out / "run.json").write_text(json.dumps(run, indent=1, default=float))
    print(f"{run['stop_reason']}; {run['steps']} steps in {run['seconds']} s; best valid loss "
          f"{best['valid_loss']:.4f} nats (step {best['step']}); checkpoint {run['checkpoint']}", file=sys.stderr)
    return {"trainer": trainer, "model": trainer.model, "checkpoint": out / "best.pt", "history": trainer.history}


def _trainer_kwargs(args, out: Path) -> dict:
    return dict(lr=args.lr, clip=args.clip, schedule=None if args.schedule == "none" else args.schedule,
                patience=args.patience, eval_every=args.eval_every, max_epochs=args.epochs,
                max_steps=args.max_steps, max_minutes=args.minutes, checkpoint=out / "best.pt", seed=args.seed,
                dry_run=args.dry_run, progress=not args.quiet,
                autocast=torch.bfloat16 if args.autocast == "bf16" else None)


# --------------------------------------------------------------------------- train lm


def train_lm(args) -> dict:
    """`train lm`: an RNNLM on a text corpus with truncated BPTT. Returns trainer, model, checkpoint, history."""
    from seqlib.torch import RNNLM
    from seqlib.train import LMTask, Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    out = _out_dir(args, "lm")
    vocab, train_ids, valid_ids = prepare_lm_data(args.data, args.level, args.max_vocab,
                                                  max_chars=LM_DRY_RUN_CHARS if args.dry_run else None)
    seed_everything(args.seed)
    model = RNNLM(len(vocab), args.embed, args.hidden, num_layers=args.layers, cell=args.cell,
                  dropout=args.dropout, impl=args.impl).to(dev)
    task = LMTask(train_ids, valid_ids, batch_size=args.batch_size, seq_len=args.seq_len, device=dev)
    trainer = Trainer(model, task, vocab=vocab.to_plain(),
                      extra={"task": "lm", "data": args.data}, eval_batches=args.eval_batches,
                      **_trainer_kwargs(args, out))
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train seq2seq


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
    trainer = Trainer(model, task, vocab={"src": src_vocab.to_plain(), "tgt": tgt_vocab.to_plain()},
                      extra={"task": "seq2seq", "data": args.data, "reverse_source": args.reverse_source},
                      eval_batches=args.eval_batches, **_trainer_kwargs(args, out))
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train classifier


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
    trainer = Trainer(model, task, vocab=vocab.to_plain(),
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


def cmd_sample(args) -> str:
    """`sample`: print the prime and what the language model writes after it; returns the new text."""
    from seqlib.torch.generate import sample_text

    model, ckpt = _load(args.checkpoint, "lm")
    vocab = Vocab.from_plain(ckpt["vocab"])
    text = sample_text(model, vocab, args.prime, args.length, args.temperature, args.top_k, args.seed)
    print((args.prime or "") + (" " if vocab.level == "word" and args.prime.strip() else "") + text)
    return text


def cmd_translate(args) -> list[str]:
    """`translate`: print one translation per input text (beam search); returns them."""
    model, ckpt = _load(args.checkpoint, "seq2seq")
    v = ckpt["vocab"]
    from seqlib.torch.generate import translate

    outs = translate(model, Vocab.from_plain(v["src"]), Vocab.from_plain(v["tgt"]), args.text, args.beam,
                           ckpt["extra"].get("reverse_source", False), args.max_len)
    for o in outs:
        print(o)
    return outs


def cmd_classify(args) -> list[int]:
    """`classify`: print label, its probability and the text, one line each; returns the labels."""
    model, ckpt = _load(args.checkpoint, "classifier")
    vocab = Vocab.from_plain(ckpt["vocab"])
    lower = ckpt["extra"].get("lowercase", False)
    preds = []
    for text in args.text:
        ids = encode_source(vocab, text.lower() if lower else text)
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
    """Run one command; returns what it produced (a dict for train, text for sample ...).

    A bad argument that only the library can see (a dataset of the wrong kind, a size that
    does not fit) ends the command with its one-line message, not a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        raise SystemExit(f"python -m seqlib {args.command}: error: {err}") from err
