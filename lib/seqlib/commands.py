"""The commands of ``python -m seqlib``, one function each: train lm / seq2seq / classifier,
sample, translate, classify. seqlib.cli parses the flags and calls them; each takes the parsed
arguments and returns what it produced (a dict for train, text for sample ...).

Chapters: "Language models" (train lm, sample), "Sequence to sequence" and "Attention"
(train seq2seq, translate), "Stacked and bidirectional RNNs" (train classifier, classify).
Bad input raises seqlib.cli_errors.BadArgument, naming the flag.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from seqlib.cli_errors import DATA_ERRORS, BadArgument, about, reading_checkpoint
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
    """Write <out>/history.json and <out>/run.json (how the run ended), and say it in one line.

    A run whose validation loss was never a number wrote no checkpoint: the command says so
    (BadArgument about --lr, the usual cause) instead of pointing at a best.pt that is not there.
    """
    (out / "history.json").write_text(json.dumps(trainer.history, indent=1, default=float))
    finite = [r for r in trainer.history if math.isfinite(r["valid_loss"])]
    best = min(finite, key=lambda r: r["valid_loss"]) if finite else None
    checkpoint = str(out / "best.pt") if trainer.checkpoint_written else None
    run = {"stop_reason": trainer.stop_reason, "steps": trainer.step,
           "seconds": round(time.perf_counter() - started, 1), "best_step": best and best["step"],
           "best_valid_loss": best and best["valid_loss"], "checkpoint": checkpoint}
    (out / "run.json").write_text(json.dumps(run, indent=1, default=float))
    if checkpoint is None:
        raise BadArgument("--lr", f"{run['stop_reason']}; no validation loss was a number, so no checkpoint "
                                  f"was written (a smaller --lr, or --clip, usually helps)")
    print(f"{run['stop_reason']}; {run['steps']} steps in {run['seconds']} s; best valid loss "
          f"{best['valid_loss']:.4f} nats (step {best['step']}); checkpoint {checkpoint}", file=sys.stderr)
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
    # Reading the source backwards helps a model without attention (its first words end up next
    # to the first target words); with attention it only mirrors the alignments.
    reverse_source = args.attention == "none" if args.reverse_source is None else args.reverse_source
    with about("--data", *DATA_ERRORS):
        src_vocab, tgt_vocab, (tr_s, tr_t), (va_s, va_t) = prepare_pairs(
            args.data, args.level, args.min_freq, args.max_vocab, reverse_source, merges=args.merges)
    if args.max_len:
        # A few very long help paragraphs would set the padded width of whole batches; the
        # validation set stays complete so that its loss is comparable between runs.
        keep = [i for i in range(len(tr_s)) if len(tr_s[i]) <= args.max_len and len(tr_t[i]) <= args.max_len + 2]
        tr_s, tr_t = [tr_s[i] for i in keep], [tr_t[i] for i in keep]
    out = _out_dir(args, "seq2seq")
    seed_everything(args.seed)
    config = Seq2SeqConfig(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab), **_model_fields(args),
                           attention=None if args.attention == "none" else args.attention)
    model = Seq2Seq.from_config(config).to(dev)
    task = Seq2SeqTask(tr_s, tr_t, va_s, va_t, batch_size=args.batch_size, device=dev)
    trainer = Trainer(model, task, _train_config(args, out),
                      vocab={"src": src_vocab.to_plain(), "tgt": tgt_vocab.to_plain()},
                      extra={"task": "seq2seq", "data": args.data, "reverse_source": reverse_source})
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
