"""python -m seqlib: train language models, translators and classifiers; sample, translate and classify.

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
commands rebuild everything from it with torch.load(weights_only=True). Bad input gets one line
that names the argument and what was expected, never a traceback (seqlib.cli_errors).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from seqlib.cli_errors import DATA_ERRORS, BadArgument, about, check_args, reading_checkpoint
from seqlib.data.prepare import encode_source, prepare_classification, prepare_lm_data, prepare_pairs
from seqlib.vocab import Vocab

LM_DRY_RUN_CHARS = 200_000  # --dry-run trains on the start of a corpus: CI time, not quality


# --------------------------------------------------------------------------- shared helpers


def _device(name):
    from seqlib.torch import device

    with about("--device"):
        return device(name)


def _out_dir(args, task: str) -> Path:
    out = Path(args.out) if args.out else Path("runs") / f"{task}-{args.data}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadArgument("--out", f"cannot make the folder {out}: {err.strerror}") from err
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


def _train_config(args, out: Path):
    """The TrainConfig that the flags of every train command describe."""
    from seqlib.train import TrainConfig

    return TrainConfig(lr=args.lr, clip=args.clip if args.clip > 0 else None,
                       schedule=None if args.schedule == "none" else args.schedule, patience=args.patience,
                       eval_every=args.eval_every, eval_batches=args.eval_batches, max_epochs=args.epochs,
                       max_steps=args.max_steps, max_minutes=args.minutes, checkpoint=str(out / "best.pt"),
                       seed=args.seed, dry_run=args.dry_run, progress=not args.quiet,
                       autocast=None if args.autocast == "none" else args.autocast)


def _model_fields(args) -> dict:
    """The fields of a model config that the flags shared by every train command give."""
    return dict(embed_size=args.embed, hidden_size=args.hidden, num_layers=args.layers, cell=args.cell,
                dropout=args.dropout, impl=args.impl)


# --------------------------------------------------------------------------- train lm


def train_lm(args) -> dict:
    """`train lm`: an RNNLM on a text corpus with truncated BPTT. Returns trainer, model, checkpoint, history."""
    from seqlib.tasks import LMTask
    from seqlib.torch import LMConfig, RNNLM
    from seqlib.train import Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    with about("--data", *DATA_ERRORS):
        vocab, train_ids, valid_ids = prepare_lm_data(args.data, args.level, args.max_vocab,
                                                      max_chars=LM_DRY_RUN_CHARS if args.dry_run else None)
    out = _out_dir(args, "lm")
    seed_everything(args.seed)
    config = LMConfig(vocab_size=len(vocab), tie_weights=args.tie_weights, **_model_fields(args))
    model = RNNLM.from_config(config).to(dev)
    with about("--batch-size"):  # N streams of the corpus: it must hold them
        task = LMTask(train_ids, valid_ids, batch_size=args.batch_size, seq_len=args.seq_len, device=dev)
    trainer = Trainer(model, task, _train_config(args, out), vocab=vocab.to_plain(),
                      extra={"task": "lm", "data": args.data})
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train seq2seq


def train_seq2seq(args) -> dict:
    """`train seq2seq`: an encoder-decoder on a pair dataset, teacher forcing. Returns as train_lm."""
    from seqlib.tasks import Seq2SeqTask
    from seqlib.torch import Seq2Seq, Seq2SeqConfig
    from seqlib.train import Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    with about("--data", *DATA_ERRORS):
        src_vocab, tgt_vocab, (tr_s, tr_t), (va_s, va_t) = prepare_pairs(
            args.data, args.level, args.min_freq, args.max_vocab, args.reverse_source)
    if args.max_len:
        # A few very long help paragraphs would set the padded width of whole batches; the
        # validation set stays complete so that its loss is comparable between runs.
        keep = [i for i in range(len(tr_s)) if len(tr_s[i]) <= args.max_len and len(tr_t[i]) <= args.max_len + 2]
        tr_s, tr_t = [tr_s[i] for i in keep], [tr_t[i] for i in keep]
    out = _out_dir(args, "seq2seq")
    seed_everything(args.seed)
    config = Seq2SeqConfig(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab), **_model_fields(args))
    model = Seq2Seq.from_config(config).to(dev)
    task = Seq2SeqTask(tr_s, tr_t, va_s, va_t, batch_size=args.batch_size, device=dev)
    trainer = Trainer(model, task, _train_config(args, out),
                      vocab={"src": src_vocab.to_plain(), "tgt": tgt_vocab.to_plain()},
                      extra={"task": "seq2seq", "data": args.data, "reverse_source": args.reverse_source})
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- train classifier


def train_classifier(args) -> dict:
    """`train classifier`: a (bidirectional) SentenceClassifier. Returns as train_lm."""
    from seqlib.tasks import ClassifierTask
    from seqlib.torch import ClassifierConfig, SentenceClassifier
    from seqlib.train import Trainer, seed_everything

    started = time.perf_counter()
    dev = _device(args.device)
    with about("--data", *DATA_ERRORS):
        vocab, labels, (tr_x, tr_y), (va_x, va_y) = prepare_classification(args.data, args.min_freq,
                                                                            args.max_vocab, not args.keep_case)
    out = _out_dir(args, "classifier")
    seed_everything(args.seed)
    config = ClassifierConfig(vocab_size=len(vocab), num_classes=max(labels) + 1,
                              bidirectional=not args.unidirectional, **_model_fields(args))
    model = SentenceClassifier.from_config(config).to(dev)
    task = ClassifierTask(tr_x, tr_y, va_x, va_y, batch_size=args.batch_size, device=dev)
    trainer = Trainer(model, task, _train_config(args, out), vocab=vocab.to_plain(),
                      extra={"task": "classifier", "data": args.data, "lowercase": not args.keep_case})
    trainer.fit()
    return _finish(trainer, out, started)


# --------------------------------------------------------------------------- using checkpoints


def _load(path, task: str):
    """(model, checkpoint) of a best.pt written by `train <task>`; any other file is a BadArgument."""
    from seqlib.torch import load_model

    with reading_checkpoint(path, task):
        model, ckpt = load_model(path, map_location="cpu")
    if ckpt["extra"].get("task") != task:
        raise BadArgument("--checkpoint", f"{path} holds a {ckpt['extra'].get('task')!r} model, expected a "
                                          f"{task!r} one (a best.pt written by python -m seqlib train {task})")
    model.eval()
    return model, ckpt


def cmd_sample(args) -> str:
    """`sample`: print the prime and what the language model writes after it; returns the new text."""
    from seqlib.torch.generate import sample_text

    model, ckpt = _load(args.checkpoint, "lm")
    vocab = Vocab.from_plain(ckpt["vocab"])
    if args.top_k is not None and args.top_k > len(vocab):
        raise BadArgument("--top-k", f"expected at most the model's {len(vocab)} tokens, got {args.top_k}")
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


class _Manual(argparse.RawDescriptionHelpFormatter):
    """Epilogs keep their line breaks (the examples); a flag's help ends with its default,
    unless it has none (None, False) or the help says it already."""

    def _get_help_string(self, action):
        quiet = action.default is None or isinstance(action.default, bool) or action.default == argparse.SUPPRESS
        if quiet or not action.option_strings or "default" in action.help:
            return action.help
        return action.help + " (default: %(default)s)"


def _command(sub, name, help, description, examples):
    """A subcommand whose --help reads as a manual page: what it does, its flags, examples."""
    return sub.add_parser(name, help=help, description=description, formatter_class=_Manual,
                          epilog="examples:\n" + "\n".join(f"  python -m seqlib {e}" for e in examples))


def _common_train(p, *, embed, hidden, layers, batch_size, epochs, dropout, eval_every=None) -> dict:
    """The flags of every train command, in groups; returns the groups, for the task's own flags."""
    from seqlib.cells import CELLS
    from seqlib.torch.stacked import IMPLS
    from seqlib.train import SCHEDULES, TrainConfig

    defaults = TrainConfig()
    data = p.add_argument_group("data")
    data.add_argument("--data", required=True, help="a dataset name (python -m seqlib.data list)")
    data.add_argument("--max-vocab", type=int, default=None,
                      help="keep at most this many tokens, specials included (default: every token)")
    model = p.add_argument_group("model (the fields of its config)")
    model.add_argument("--cell", default="lstm", choices=CELLS, help="the recurrent cell")
    model.add_argument("--layers", type=int, default=layers, help="L, stacked recurrent layers")
    model.add_argument("--hidden", type=int, default=hidden, help="H, hidden units per layer")
    model.add_argument("--embed", type=int, default=embed, help="E, the size of a token's embedding")
    model.add_argument("--dropout", type=float, default=dropout,
                       help="dropout on embeddings, between layers and before the output layer")
    model.add_argument("--impl", default="fused", choices=IMPLS,
                       help="fused: torch's kernels (fast); loop: the course's step-by-step code")
    train = p.add_argument_group("training (the fields of seqlib.train.TrainConfig)")
    train.add_argument("--batch-size", type=int, default=batch_size, help="N, sequences per batch")
    train.add_argument("--lr", type=float, default=defaults.lr, help="Adam's learning rate")
    train.add_argument("--clip", type=float, default=defaults.clip, help="max global gradient norm (0: no clipping)")
    train.add_argument("--schedule", default=defaults.schedule, choices=(*SCHEDULES, "none"),
                       help="plateau: halve the learning rate when the validation loss stalls; "
                            "cosine: anneal it over --max-steps")
    train.add_argument("--patience", type=int, default=4, help="evaluations without improvement before stopping")
    train.add_argument("--epochs", type=int, default=epochs, help="at most this many passes over the training set")
    train.add_argument("--max-steps", type=int, default=None, help="at most this many optimizer steps (default: no limit)")
    train.add_argument("--minutes", type=float, default=None,
                       help="a time budget; the best checkpoint so far is kept (default: no limit)")
    train.add_argument("--eval-every", type=int, default=eval_every,
                       help="optimizer steps between evaluations" + ("" if eval_every else " (default: once per epoch)"))
    train.add_argument("--eval-batches", type=int, default=None,
                       help="validation batches per evaluation (default: all of them)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="seeds the weights, the batches and dropout")
    train.add_argument("--autocast", default="none", choices=("none", "bf16"),
                       help="bf16: training forward passes under torch.autocast in bfloat16 (fast with --impl fused "
                            "on a GPU); weights and evaluation stay float32")
    run = p.add_argument_group("running")
    run.add_argument("--device", default=None,
                     help="cpu, cuda or cuda:K (default: $SEQLIB_DEVICE, else cuda if available)")
    run.add_argument("--out", default=None, help="output folder (default: runs/<task>-<data>)")
    run.add_argument("--dry-run", action="store_true", help="two training steps and a short evaluation (CI)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return {"data": data, "model": model, "training": train}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every command (see the module docstring)."""
    from seqlib.vocab import LEVELS

    parser = argparse.ArgumentParser(
        prog="python -m seqlib", formatter_class=_Manual, description=__doc__.split("\n\n")[0],
        epilog="examples:\n" + "\n".join("  " + line.strip() for line in __doc__.splitlines()
                                          if line.startswith("    python -m"))
        + "\n\nEach command has its own manual: python -m seqlib train lm --help, python -m seqlib sample --help ...")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command",
                                help="train | sample | translate | classify")

    train_parser = sub.add_parser("train", help="train a model (lm, seq2seq or classifier)", formatter_class=_Manual,
                                  description="Train a model; the best checkpoint is <out>/best.pt, the history "
                                              "<out>/history.json.",
                                  epilog="examples:\n  python -m seqlib train lm --data shakespeare --minutes 10\n"
                                         "  python -m seqlib train lm --help")
    train = train_parser.add_subparsers(dest="task", required=True, metavar="task", help="lm | seq2seq | classifier")
    lm = _command(train, "lm", "a recurrent language model on a text corpus",
                  "Train an RNNLM with truncated BPTT: N parallel streams of the corpus, chunks of T tokens, the "
                  "state carried from chunk to chunk.",
                  ["train lm --data shakespeare --level char --cell lstm --layers 2 --hidden 512 --minutes 10",
                   "train lm --data python-stdlib --impl loop --hidden 128 --max-steps 500 --eval-every 100",
                   "train lm --data shakespeare --level word --embed 256 --hidden 256 --tie-weights"])
    groups = _common_train(lm, embed=64, hidden=512, layers=2, batch_size=32, epochs=50, dropout=0.0, eval_every=500)
    groups["data"].add_argument("--level", default="char", choices=LEVELS,
                                help="tokens: characters, or words and punctuation")
    groups["data"].add_argument("--seq-len", type=int, default=100, help="T, the truncated-BPTT length")
    groups["model"].add_argument("--tie-weights", action="store_true",
                                 help="the output layer reuses the embedding matrix (needs --embed = --hidden)")
    lm.set_defaults(func=train_lm)

    s2s = _command(train, "seq2seq", "an encoder-decoder translator on a pair dataset",
                   "Train a Seq2Seq with teacher forcing: the encoder's final state starts the decoder.",
                   ["train seq2seq --data en-ru-numbers --minutes 5",
                    "train seq2seq --data en-ru-help --hidden 512 --max-len 40 --no-reverse-source"])
    data = _common_train(s2s, embed=128, hidden=256, layers=1, batch_size=64, epochs=30, dropout=0.0)["data"]
    data.add_argument("--level", default="word", choices=LEVELS, help="tokens: characters, or words and punctuation")
    data.add_argument("--min-freq", type=int, default=1, help="tokens seen fewer times become <unk>")
    data.add_argument("--max-len", type=int, default=None,
                      help="train only on pairs of at most this many tokens (default: every pair)")
    data.add_argument("--no-reverse-source", dest="reverse_source", action="store_false",
                      help="read the source forwards (default: backwards, as Sutskever et al.)")
    s2s.set_defaults(func=train_seq2seq)

    clf = _command(train, "classifier", "a (bidirectional) sentence classifier",
                   "Train a SentenceClassifier on labelled sentences: the final states of both directions "
                   "are the sentence's features.",
                   ["train classifier --data sentiment --minutes 5",
                    "train classifier --data sentiment --cell gru --unidirectional --epochs 5"])
    groups = _common_train(clf, embed=100, hidden=128, layers=1, batch_size=32, epochs=20, dropout=0.3)
    groups["data"].add_argument("--min-freq", type=int, default=2, help="tokens seen fewer times become <unk>")
    groups["data"].add_argument("--keep-case", action="store_true", help="do not lowercase the text")
    groups["model"].add_argument("--unidirectional", action="store_true", help="read each sentence forwards only")
    clf.set_defaults(func=train_classifier)

    smp = _command(sub, "sample", "generate text from a language-model checkpoint",
                   "Print the prime and the text the model writes after it (seqlib.decode.sample).",
                   ["sample --checkpoint runs/lm-shakespeare/best.pt --temperature 0.8 --prime 'ROMEO:'",
                    "sample --checkpoint runs/lm-python-stdlib/best.pt --top-k 5 --length 200 --seed 1"])
    smp.add_argument("--checkpoint", required=True, help="a best.pt written by train lm")
    smp.add_argument("--temperature", type=float, default=1.0, help="below 1 sharpens, above 1 flattens")
    smp.add_argument("--length", type=int, default=500, help="tokens to generate")
    smp.add_argument("--prime", default="\n", help="the text the model reads first (default: a newline)")
    smp.add_argument("--top-k", type=int, default=None,
                     help="draw from the k most probable tokens only (default: from all of them)")
    smp.add_argument("--seed", type=int, default=0, help="the same seed gives the same text")
    smp.set_defaults(func=cmd_sample)

    tr = _command(sub, "translate", "translate sentences with a seq2seq checkpoint",
                  "Print one translation per sentence, by beam search (--beam 1: greedy).",
                  ["translate --checkpoint runs/seq2seq-en-ru-numbers/best.pt --beam 5 'forty-two'"])
    tr.add_argument("--checkpoint", required=True, help="a best.pt written by train seq2seq")
    tr.add_argument("--beam", type=int, default=5, help="hypotheses kept at each step")
    tr.add_argument("--max-len", type=int, default=None,
                    help="at most this many tokens (default: 2 S + 10 for a source of S tokens)")
    tr.add_argument("text", nargs="+", help="the sentences to translate")
    tr.set_defaults(func=cmd_translate)

    cl = _command(sub, "classify", "label sentences with a classifier checkpoint",
                  "Print, for each sentence, its label, the label's probability and the sentence.",
                  ["classify --checkpoint runs/classifier-sentiment/best.pt 'A wonderful film.' 'Dull.'"])
    cl.add_argument("--checkpoint", required=True, help="a best.pt written by train classifier")
    cl.add_argument("text", nargs="+", help="the sentences to label")
    cl.set_defaults(func=cmd_classify)
    return parser


def main(argv=None):
    """Run one command; returns what it produced (a dict for train, text for sample ...).

    Bad input ends the command with one line that names the argument and what was expected,
    and exit status 1 (seqlib.cli_errors); argparse's own usage errors exit with status 2.
    """
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        return args.func(args)
    except BadArgument as err:
        raise SystemExit(f"python -m seqlib {args.command}: {err.flag}: {err}") from err
