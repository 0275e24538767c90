"""How ``python -m seqlib`` answers bad input: one line that names the argument and what it expected.

Chapters: "Language models" (train lm, sample), "Sequence to sequence" (train seq2seq,
translate), "Stacked and bidirectional RNNs" (train classifier, classify): the commands whose
arguments are checked here.

    python -m seqlib train: --data: unknown corpus 'nope' (choose from: latex, linux-kernel, python-stdlib, shakespeare)
    python -m seqlib sample: --checkpoint: missing.pt does not exist

check_args refuses, before anything is loaded, the values that no command could use;
``with about("--flag"):`` around the library call that reads a flag turns the library's own
exceptions about that value (ValueError by default) into the flag's line. The command line
prints the line and exits with status 1; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import zipfile
from pathlib import Path

from seqlib.data import registry
from seqlib.data.cache import ChecksumError, DatasetUnavailable
from seqlib.vocab import SPECIALS

__all__ = ["BadArgument", "about", "check_args", "check_checkpoint_file", "reading_checkpoint", "flag",
           "RULES", "DATA_ERRORS"]

#: what the library raises about a dataset it cannot give (wrong kind, not downloaded, damaged)
DATA_ERRORS = (ValueError, DatasetUnavailable, ChecksumError)


class BadArgument(Exception):
    """A value the command cannot use: flag names the argument, str(self) says what was expected."""

    def __init__(self, flag: str, message: str):
        super().__init__(message)
        self.flag = flag


@contextlib.contextmanager
def about(flag: str, *errors: type[BaseException]):
    """Inside this block, the library's errors (ValueError unless told) are about flag's value."""
    errors = errors or (ValueError,)
    try:
        yield
    except errors as err:
        raise BadArgument(flag, str(err)) from err


def _positive(v) -> bool:
    return v >= 1


def _above_zero(v) -> bool:
    return math.isfinite(v) and v > 0


#: dest -> (the test a value passes, what is expected); None, a flag's "no limit" default, always passes
RULES = {
    **{dest: (_positive, "a positive integer") for dest in (
        "layers", "hidden", "embed", "batch_size", "seq_len", "epochs", "max_steps", "patience", "eval_every",
        "eval_batches", "min_freq", "max_len", "length", "top_k", "beam", "merges")},
    "max_vocab": (lambda v: v >= len(SPECIALS), f"an integer >= {len(SPECIALS)} (the special tokens count)"),
    "dropout": (lambda v: 0 <= v < 1, "a probability in [0, 1)"),
    "lr": (_above_zero, "a number > 0"),
    "clip": (lambda v: math.isfinite(v) and v >= 0, "a number >= 0 (0: no clipping)"),
    "minutes": (_above_zero, "a number of minutes > 0"),
    "temperature": (_above_zero, "a number > 0 (below 1 sharpens, above 1 flattens)"),
    "seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)"),
}

# The registry's kind of dataset each train task reads, and what the task calls one.
_KINDS = {"lm": ("text", "corpus"), "seq2seq": ("pairs", "dataset"), "classifier": ("pairs", "dataset")}


def flag(dest: str) -> str:
    """The flag of an argparse dest: "batch_size" -> "--batch-size"."""
    return "--" + dest.replace("_", "-")


def check_args(args) -> None:
    """Raise BadArgument for the first value of args (a parsed command line) no command could use."""
    for dest, (ok, expected) in RULES.items():
        value = getattr(args, dest, None)
        if value is not None and not ok(value):
            raise BadArgument(flag(dest), f"expected {expected}, got {value!r}")
    if getattr(args, "task", None) in _KINDS:
        kind, noun = _KINDS[args.task]
        if args.data not in registry.names():
            known = [n for n in registry.names() if registry.get(n).kind == kind]
            raise BadArgument("--data", f"unknown {noun} {args.data!r} (choose from: {', '.join(known)})")
        if getattr(args, "tie_weights", False) and args.embed != args.hidden:
            raise BadArgument("--tie-weights", f"needs --embed = --hidden, got --embed {args.embed} "
                                               f"and --hidden {args.hidden}")
        if getattr(args, "level", None) == "bpe" and getattr(args, "merges", None) is None:
            raise BadArgument("--merges", "--level bpe learns this many merges on the training split: give it "
                                          "(e.g. --merges 8000)")
        if getattr(args, "merges", None) is not None and args.level != "bpe":
            raise BadArgument("--merges", f"only --level bpe learns merges, got --level {args.level}")
        if args.schedule == "cosine" and args.max_steps is None and not args.dry_run:
            raise BadArgument("--schedule", "cosine anneals over --max-steps: give --max-steps too")
        if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
            raise BadArgument("--out", f"{args.out} is a file, expected a folder")
    for k, text in enumerate(getattr(args, "text", None) or (), 1):
        if not text.strip():
            raise BadArgument("text", f"sentence {k} is empty, expected some words")


def check_checkpoint_file(path: str, task: str) -> None:
    """Refuse a path that cannot be a checkpoint: missing, a folder, unreadable, not a zip archive."""
    p, wanted = Path(path), f"a best.pt written by python -m seqlib train {task}"
    if not p.exists():
        raise BadArgument("--checkpoint", f"{path} does not exist")
    if p.is_dir():
        raise BadArgument("--checkpoint", f"{path} is a folder, expected {wanted}")
    try:
        with zipfile.ZipFile(p) as archive:  # torch.save writes a zip archive holding <name>/data.pkl
            names = archive.namelist()
    except zipfile.BadZipFile:  # an empty, text or cut-off file
        names = []
    except OSError as err:
        raise BadArgument("--checkpoint", f"cannot read {path}: {err.strerror}") from err
    if not any(name.endswith("/data.pkl") for name in names):
        what = "empty" if p.stat().st_size == 0 else "not a checkpoint (not the zip archive torch.save writes)"
        raise BadArgument("--checkpoint", f"{path} is {what}, expected {wanted}")


@contextlib.contextmanager
def reading_checkpoint(path: str, task: str):
    """Around loading path as the checkpoint of `train <task>`: check_checkpoint_file first, then the
    library's refusals (not a seqlib checkpoint, a config that does not fit) are about --checkpoint."""
    check_checkpoint_file(path, task)
    try:
        with about("--checkpoint"):
            yield
    except pickle.UnpicklingError as err:  # torch.load(weights_only=True) refuses pickled objects
        raise BadArgument("--checkpoint", f"{path} holds pickled Python objects, not the plain data of a "
                                          f"best.pt written by python -m seqlib train {task}") from err
