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

from seqlib.cli_errors import BadArgument, check_args
from seqlib.commands import cmd_classify, cmd_sample, cmd_translate, train_classifier, train_lm, train_seq2seq

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
    from seqlib.vocab import LEVELS, VOCAB_LEVELS

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
                   "Train a Seq2Seq with teacher forcing: the encoder's final state starts the decoder "
                   "(with --attention, the decoder also attends to every encoder output).",
                   ["train seq2seq --data en-ru-numbers --minutes 5",
                    "train seq2seq --data en-ru-help --hidden 512 --max-len 40 --no-reverse-source",
                    "train seq2seq --data en-ru-help --level bpe --merges 8000 --attention additive --minutes 7"])
    groups = _common_train(s2s, embed=128, hidden=256, layers=1, batch_size=64, epochs=30, dropout=0.0)
    groups["model"].add_argument("--attention", default="none", choices=("none", "dot", "bilinear", "additive"),
                                 help="the decoder attends to the encoder's outputs with this score (chapter 7)")
    data = groups["data"]
    data.add_argument("--level", default="word", choices=VOCAB_LEVELS,
                      help="tokens: characters, words and punctuation, or subwords (byte-pair encoding)")
    data.add_argument("--merges", type=int, default=None,
                      help="--level bpe: the merges to learn on the training split (source and target each)")
    data.add_argument("--min-freq", type=int, default=1,
                      help="tokens seen fewer times become <unk> (bpe: pairs seen fewer times are not merged)")
    data.add_argument("--max-len", type=int, default=None,
                      help="train only on pairs of at most this many tokens (default: every pair)")
    data.add_argument("--reverse-source", dest="reverse_source", action="store_true", default=None,
                      help="read the source backwards, as Sutskever et al. (default: without --attention)")
    data.add_argument("--no-reverse-source", dest="reverse_source", action="store_false",
                      help="read the source forwards (default: with --attention, whose alignments then read "
                           "left to right)")
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


def run(argv=None):
    """Run one command; returns what it produced (a dict for train, text for sample ...).

    Bad input raises BadArgument, whose message is the one line the command prints:
    ``python -m seqlib train: --data: ...``, naming the argument and what was expected.
    Turning that into an exit status is the command line's job (seqlib.__main__: status 1);
    argparse's own usage errors exit with status 2 as they always do.
    """
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        return args.func(args)
    except BadArgument as err:
        raise BadArgument(err.flag, f"python -m seqlib {args.command}: {err.flag}: {err}") from err
