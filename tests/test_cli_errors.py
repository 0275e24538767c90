"""Bad input to python -m seqlib and python -m seqlib.data: one line naming the argument, never a traceback.

The course's standard: a command answers bad input with one line and a non-zero exit, and the line
names the argument and what was expected (`python -m seqlib sample: --checkpoint: missing.pt does
not exist`). argparse's own usage errors (an unknown --cell, a missing argument) keep their usage
lines and exit status 2. Each case runs the real command in a subprocess; they run two or more at
a time, since each one imports torch.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from seqlib.data import registry
from seqlib.torch import RNNLM, LMConfig, Seq2Seq, Seq2SeqConfig, SentenceClassifier, ClassifierConfig, save
from seqlib.vocab import Vocab

TINY = dict(embed_size=4, hidden_size=4)
GPU = torch.cuda.is_available()
# (id, argv, the argument the one line must name, words the line must hold); {name} is a path
# of the `files` fixture.
TRAIN_LM = ["train", "lm", "--data", "python-stdlib", "--hidden", "4", "--embed", "4", "--quiet", "--dry-run",
            "--out", "{out}"]
CASES = [
    ("unknown corpus", ["train", "lm", "--data", "nope"], "--data", ["unknown corpus 'nope'", "python-stdlib"]),
    ("pairs to lm", ["train", "lm", "--data", "en-ru-numbers", "--dry-run", "--out", "{out}"], "--data",
     ["'en-ru-numbers' is not a text corpus"]),
    ("sentence pairs to a classifier", ["train", "classifier", "--data", "en-ru-numbers", "--dry-run", "--out",
                                        "{out}"], "--data", ["a classifier needs sentences with integer labels"]),
    ("layers 0", TRAIN_LM + ["--layers", "0"], "--layers", ["expected a positive integer, got 0"]),
    ("batch size 0", TRAIN_LM + ["--batch-size", "0"], "--batch-size", ["expected a positive integer, got 0"]),
    ("minutes -1", TRAIN_LM + ["--minutes", "-1"], "--minutes", ["expected", "> 0, got -1.0"]),
    ("dropout 1.5", TRAIN_LM + ["--dropout", "1.5"], "--dropout", ["expected a probability in [0, 1)"]),
    ("tie weights", TRAIN_LM + ["--embed", "8", "--tie-weights"], "--tie-weights", ["needs --embed = --hidden"]),
    ("cosine without max steps", ["train", "lm", "--data", "python-stdlib", "--schedule", "cosine"], "--schedule",
     ["--max-steps"]),
    ("device tpu", TRAIN_LM + ["--device", "tpu"], "--device", ["'tpu', not a device name"]),
    ("device cuda", TRAIN_LM + ["--device", "cuda:99" if GPU else "cuda"], "--device", ["CUDA"]),
    ("out is a file", TRAIN_LM[:-1] + ["{text}"], "--out", ["is a file, expected a folder"]),
    ("damaged archive", ["train", "lm", "--data", "latex", "--dry-run", "--out", "{out}"], "--data",
     ["SHA-256", "delete it and fetch again"]),
    ("missing checkpoint", ["sample", "--checkpoint", "missing.pt"], "--checkpoint", ["missing.pt does not exist"]),
    ("text file", ["sample", "--checkpoint", "{text}"], "--checkpoint", ["is not a checkpoint"]),
    ("empty file", ["sample", "--checkpoint", "{empty}"], "--checkpoint", ["is empty"]),
    ("cut-off checkpoint", ["sample", "--checkpoint", "{cut}"], "--checkpoint", ["is not a checkpoint"]),
    ("a folder", ["sample", "--checkpoint", "{folder}"], "--checkpoint", ["is a folder"]),
    ("pickled module", ["sample", "--checkpoint", "{pickled}"], "--checkpoint", ["pickled Python objects"]),
    ("seq2seq to sample", ["sample", "--checkpoint", "{seq2seq}"], "--checkpoint",
     ["holds a 'seq2seq' model, expected a 'lm' one", "train lm"]),
    ("temperature 0", ["sample", "--checkpoint", "{lm}", "--temperature", "0"], "--temperature",
     ["expected a number > 0", "got 0.0"]),
    ("top-k above V", ["sample", "--checkpoint", "{lm}", "--top-k", "1000"], "--top-k", ["at most the model's 9"]),
    ("lm to translate", ["translate", "--checkpoint", "{lm}", "one"], "--checkpoint",
     ["holds a 'lm' model, expected a 'seq2seq' one"]),
    ("beam 0", ["translate", "--checkpoint", "{seq2seq}", "--beam", "0", "one"], "--beam", ["a positive integer"]),
    ("empty sentence", ["translate", "--checkpoint", "{seq2seq}", "one", " "], "text", ["sentence 2 is empty"]),
    ("empty sentence to classify", ["classify", "--checkpoint", "{classifier}", ""], "text", ["is empty"]),
]
DATA_CASES = [  # python -m seqlib.data: no torch, fast
    ("info unknown", ["info", "nope", "--quick"], "name", ["no dataset named 'nope'", "python-stdlib"]),
    ("fetch unknown", ["fetch", "nope"], "name", ["no dataset named 'nope'", "or 'all'"]),
    ("info damaged archive", ["info", "latex"], "error", ["SHA-256", "delete it and fetch again"]),
]
USAGE_CASES = [  # argparse's own errors: usage lines, then one error line naming the argument; status 2
    ("unknown cell", TRAIN_LM + ["--cell", "foo"], "argument --cell: invalid choice: 'foo'"),
    ("bad autocast", TRAIN_LM + ["--autocast", "fp16"], "argument --autocast: invalid choice: 'fp16'"),
]


def _vocab(words):
    return Vocab(words, level="word").to_plain()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths the cases name: tiny checkpoints of each task (seqlib.torch.save) and files that are not."""
    root = tmp_path_factory.mktemp("cli-errors")
    torch.manual_seed(0)
    paths = {name: root / f"{name}.pt" for name in ("lm", "seq2seq", "classifier", "pickled", "cut")}
    words = ["one", "two", "three", "four", "five"]  # 9 tokens with the specials
    save(paths["lm"], RNNLM.from_config(LMConfig(vocab_size=9, **TINY)), vocab=_vocab(words), task="lm")
    save(paths["seq2seq"], Seq2Seq.from_config(Seq2SeqConfig(src_vocab_size=9, tgt_vocab_size=9, **TINY)),
         vocab={"src": _vocab(words), "tgt": _vocab(words)}, task="seq2seq", reverse_source=True)
    save(paths["classifier"], SentenceClassifier.from_config(ClassifierConfig(vocab_size=9, num_classes=2, **TINY)),
         vocab=_vocab(words), task="classifier", lowercase=True)
    torch.save(torch.nn.Linear(2, 2), paths["pickled"])  # the whole module, pickled: weights_only refuses it
    paths["cut"].write_bytes(paths["lm"].read_bytes()[:500])  # an interrupted copy
    paths["text"] = root / "notes.txt"
    paths["text"].write_text("not a checkpoint\n")
    paths["empty"] = root / "empty.pt"
    paths["empty"].write_bytes(b"")
    paths["folder"] = root / "runs"
    paths["folder"].mkdir()
    paths["out"] = root / "out"
    # A private cache whose latex archive is damaged: loading it fails at once, offline.
    archive = registry.get("latex").archives[0]
    paths["cache"] = root / "cache"
    (paths["cache"] / "latex").mkdir(parents=True)
    (paths["cache"] / "latex" / archive.filename).write_bytes(b"half a download")
    return paths


def _run(module, argv, files, env=None):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    env = {**os.environ, **(env or {})}
    env.pop("SEQLIB_DEVICE", None)
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=180,
                          cwd=files["folder"], env=env)


@pytest.fixture(scope="module")
def answers(files):
    """Every case's finished process, by id: run a few at a time (each one imports torch)."""
    jobs = [(i, "seqlib", argv) for i, argv, *_ in CASES + USAGE_CASES]
    jobs += [(i, "seqlib.data", argv) for i, argv, *_ in DATA_CASES]
    damaged = {"SEQLIB_CACHE": str(files["cache"])}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        done = {i: pool.submit(_run, module, argv, files, damaged if "latex" in argv else None)
                for i, module, argv in jobs}
        return {i: f.result() for i, f in done.items()}


def _assert_one_line(proc, command, flag, words):
    assert proc.returncode not in (0, 2), f"exit status {proc.returncode}; stderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    assert lines[0].startswith(f"{command}: {flag}: "), f"the line does not name {flag}: {lines[0]}"
    for w in words:
        assert w in lines[0], f"{w!r} is not in {lines[0]!r}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_argument(answers, case):
    name, argv, flag, words = case
    _assert_one_line(answers[name], f"python -m seqlib {argv[0]}", flag, words)


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_data_command_answers_in_one_line(answers, case):
    name, argv, flag, words = case
    _assert_one_line(answers[name], f"python -m seqlib.data {argv[0]}", flag, words)


@pytest.mark.parametrize("case", USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_stay_argparse_s(answers, case):
    name, argv, words = case
    proc = answers[name]
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("usage: python -m seqlib") and all(line.startswith(" ") for line in lines[1:-1])
    assert lines[-1].startswith("python -m seqlib ") and ": error: " in lines[-1] and words in lines[-1], lines[-1]


def test_a_dataset_out_of_reach_says_how_to_fetch_it(files, tmp_path):
    """Not bad input but a missing download: no traceback, the first line names --data, then what to run."""
    no_programs = {"PATH": str(tmp_path), "SEQLIB_CACHE": str(tmp_path / "cache")}  # no apt-get to run
    for module, argv, first in [("seqlib", ["train", "lm", "--data", "latex", "--out", str(tmp_path / "o")],
                                 "python -m seqlib train: --data: could not run apt-get"),
                                ("seqlib.data", ["fetch", "latex"], "python -m seqlib.data fetch: error: could not run")]:
        proc = _run(module, argv, files, env=no_programs)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith(first) and "python -m seqlib.data fetch latex" in proc.stderr, proc.stderr
