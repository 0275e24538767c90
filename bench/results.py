"""Regenerate bench/results.md: what the course's models reach on its datasets, measured here.

Chapters: "Language models", "Sequence to sequence", "Stacked and bidirectional RNNs".

    python bench/results.py --lm            # char LM, 2-layer LSTM, shakespeare (10 min CPU / 5 min GPU)
    python bench/results.py --numbers       # en-ru-numbers seq2seq, exact match on test
    python bench/results.py --help-mt       # en-ru-help seq2seq, BLEU and chrF on test
    python bench/results.py --help-attention  # en-ru-help on subwords, without and with attention (chapter 7)
    python bench/results.py --sentiment     # sentiment classifier, test accuracy
    python bench/results.py --all           # all four, one after the other
    python bench/results.py --render        # only rewrite results.md from results.json

Each experiment trains through the command line (``python -m seqlib train ...`` in a child
process, so the numbers are what a student gets), evaluates its checkpoint on the test split
and stores the result, with seed, hardware and wall times, in bench/results.json; results.md
is rendered from all stored results, so experiments can be rerun one at a time.
--minutes overrides an experiment's time budget. Checkpoints go to runs/bench-<name>/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"
SEED = 0


def hardware() -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _train(argv, out: Path) -> dict:
    """Run ``python -m seqlib`` with argv (which writes to out); returns the run's summary."""
    subprocess.run([sys.executable, "-m", "seqlib", *argv], check=True)
    h = json.loads((out / "history.json").read_text())
    run = json.loads((out / "run.json").read_text())
    return {"steps": run["steps"], "train_seconds": round(h[-1]["seconds"], 1), "stop_reason": run["stop_reason"],
            "best_step": run["best_step"], "tokens_per_s": round(h[-1]["tokens_per_s"], 1), "evaluations": len(h)}


def run_lm(minutes=None) -> dict:
    from seqlib import data
    from seqlib.metrics import bits_per_char
    from seqlib.torch import load_model
    from seqlib.torch.generate import sample_text
    from seqlib.train import LMTask
    from seqlib.vocab import Vocab

    gpu = torch.cuda.is_available()
    minutes = minutes or (5.0 if gpu else 10.0)
    # char-rnn's 2 x 512 LSTM; a GPU affords a bigger batch in its shorter budget.
    hidden, batch = (512, 128) if gpu else (512, 32)
    out = Path("runs/bench-lm")
    argv = ["train", "lm", "--data", "shakespeare", "--level", "char", "--cell", "lstm", "--layers", "2",
            "--hidden", str(hidden), "--embed", "64", "--batch-size", str(batch), "--seq-len", "100",
            "--lr", "2e-3", "--minutes", str(minutes), "--eval-every", "200", "--eval-batches", "20",
            "--patience", "100", "--seed", str(SEED), "--out", str(out), "--quiet"]
    started = time.perf_counter()
    summary = _train(argv, out)
    model, ckpt = load_model(out / "best.pt")
    model.eval()
    vocab = Vocab.from_plain(ckpt["vocab"])
    # The full validation split, not the subset the trainer watched while training.
    valid_ids = vocab.encode(data.load("shakespeare", "valid"))
    t = time.perf_counter()
    nats = LMTask(valid_ids[:1000], valid_ids, eval_batch_size=16, seq_len=100).evaluate(model)["loss"]
    eval_seconds = time.perf_counter() - t
    sample = sample_text(model, vocab, prime="ROMEO:", length=300, temperature=0.8, seed=SEED)
    return {"name": "lm", "command": "python -m seqlib " + " ".join(argv), "minutes_budget": minutes,
            "device": "cuda" if gpu else "cpu", "hidden": hidden, "batch_size": batch,
            "valid_nats_per_char": round(nats, 4), "valid_bits_per_char": round(bits_per_char(nats), 4),
            "valid_chars": int(len(valid_ids)), "train_chars": len(data.load("shakespeare", "train")), "eval_seconds": round(eval_seconds, 1),
            "sample_T0.8": "ROMEO:" + sample, **summary,
            "wall_seconds": round(time.perf_counter() - started, 1)}


def _seq2seq(name, minutes, extra_args, out=None) -> tuple[dict, list, list, list]:
    from seqlib import data
    from seqlib.data.prepare import encode_source
    from seqlib.torch import load_model
    from seqlib.torch.generate import greedy_translate
    from seqlib.vocab import Vocab

    out = out or Path(f"runs/bench-{name}")
    argv = ["train", "seq2seq", "--data", name, "--minutes", str(minutes), "--seed", str(SEED), "--out", str(out),
            "--quiet", *extra_args]
    started = time.perf_counter()
    summary = _train(argv, out)
    model, ckpt = load_model(out / "best.pt")
    src_vocab, tgt_vocab = (Vocab.from_plain(ckpt["vocab"][k]) for k in ("src", "tgt"))
    test = data.load(name, "test")
    srcs = [encode_source(src_vocab, s, ckpt["extra"]["reverse_source"]) for s, _ in test]
    t = time.perf_counter()
    hyps = [tgt_vocab.to_text(h) for h in greedy_translate(model, srcs)]
    info = {"command": "python -m seqlib " + " ".join(argv), "minutes_budget": minutes, "test_pairs": len(test),
            "decoding": "greedy", "decode_seconds": round(time.perf_counter() - t, 1), **summary,
            "wall_seconds": round(time.perf_counter() - started, 1)}
    return info, test, hyps, srcs


def run_numbers(minutes=None) -> dict:
    from seqlib.vocab import detokenize, tokenize

    minutes = minutes or 5.0
    info, test, hyps, srcs = _seq2seq("en-ru-numbers", minutes, [])
    # Compare as token sequences: the model writes words separated by single spaces.
    refs = [detokenize(tokenize(t, "word")) for _, t in test]
    correct = np.array([h == r for h, r in zip(hyps, refs)])
    lengths = np.array([len(s) for s in srcs])
    by_len = {int(n): round(float(correct[lengths == n].mean()), 4) for n in np.unique(lengths)}
    errors = [{"src": s, "ref": r, "hyp": h} for (s, _), r, h in zip(test, refs, hyps) if h != r][:5]
    return {"name": "numbers", **info, "exact_match": round(float(correct.mean()), 4),
            "accuracy_by_source_words": by_len, "errors": errors}


def run_help(minutes=None) -> dict:
    from seqlib.metrics import bleu, chrf

    minutes = minutes or 8.0
    info, test, hyps, _ = _seq2seq("en-ru-help", minutes, ["--min-freq", "2", "--max-len", "50", "--hidden", "256", "--embed", "128"])
    refs = [t for _, t in test]
    return {"name": "help", **info, "bleu": round(bleu(hyps, refs), 2), "chrf": round(chrf(hyps, refs), 2),
            "examples": [{"src": s, "ref": r, "hyp": h} for (s, r), h in list(zip(test, hyps))[:5]]}


# Chapter 7's comparison: the same subword vocabulary, budget, seed and sizes; only --attention
# differs (and with it the default reading order of the source, each model's better one).
HELP_SUBWORDS = ["--level", "bpe", "--merges", "4000", "--min-freq", "2", "--max-len", "60", "--hidden", "256",
                 "--embed", "128", "--eval-every", "200"]
HELP_ATTENTION = "bilinear"
CHECKPOINTS = HERE / "checkpoints"  # the chapter loads these (int8 weights) and checks their scores
LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 25), (26, 1000))


def _help_subwords(name, minutes, attention) -> dict:
    """Train one of chapter 7's pair through the command line, ship its int8 copy, score the copy."""
    from seqlib.torch import load_model, save

    minutes = minutes or 12.0
    out = Path(f"runs/bench-{name}")
    argv = ["train", "seq2seq", "--data", "en-ru-help", "--minutes", str(minutes), "--seed", str(SEED),
            "--out", str(out), "--quiet", *HELP_SUBWORDS, *(["--attention", attention] if attention else [])]
    started = time.perf_counter()
    summary = _train(argv, out)
    # The chapter's copy: int8 weight matrices (a quarter of the size, under the repository's
    # 5 MB a file; the model computes in float32 after loading). The scores below are the
    # copy's, so the chapter can check them to the digit.
    model, ckpt = load_model(out / "best.pt")
    CHECKPOINTS.mkdir(exist_ok=True)
    save(CHECKPOINTS / f"{name}.pt", model, vocab=ckpt["vocab"], int8=True, **ckpt["extra"])
    return {"name": name, "command": "python -m seqlib " + " ".join(argv), "minutes_budget": minutes,
            **summary, "attention": attention, **score_help_copy(name),
            "wall_seconds": round(time.perf_counter() - started, 1)}


def score_help_copy(name) -> dict:
    """BLEU and chrF (sacrebleu, whole test split, greedy) of bench/checkpoints/<name>.pt, overall and
    by source length in words: what chapter 7 recomputes from the same file."""
    from seqlib import data
    from seqlib.data.prepare import encode_source
    from seqlib.metrics import bleu, chrf
    from seqlib.torch import load_model
    from seqlib.torch.generate import greedy_translate
    from seqlib.vocab import Vocab, tokenize

    model, ckpt = load_model(CHECKPOINTS / f"{name}.pt")
    src_vocab, tgt_vocab = (Vocab.from_plain(ckpt["vocab"][k]) for k in ("src", "tgt"))
    test = data.load("en-ru-help", "test")
    srcs = [encode_source(src_vocab, s, ckpt["extra"]["reverse_source"]) for s, _ in test]
    t = time.perf_counter()
    hyps = [tgt_vocab.to_text(h) for h in greedy_translate(model, srcs)]
    decode_seconds = round(time.perf_counter() - t, 1)
    refs = [r for _, r in test]
    words = np.array([len(tokenize(s, "word")) for s, _ in test])
    by_len = {}
    for lo, hi in LENGTH_BUCKETS:
        idx = np.flatnonzero((words >= lo) & (words <= hi))
        by_len[f"{lo}-{hi}" if hi < 1000 else f"{lo}+"] = {
            "pairs": int(len(idx)), "bleu": round(bleu([hyps[i] for i in idx], [refs[i] for i in idx]), 2)}
    return {"test_pairs": len(test), "decoding": "greedy", "decode_seconds": decode_seconds,
            "scored": "the int8 copy in bench/checkpoints", "bleu": round(bleu(hyps, refs), 2),
            "chrf": round(chrf(hyps, refs), 2), "bleu_by_source_words": by_len,
            "examples": [{"src": s, "ref": r, "hyp": h} for (s, r), h in list(zip(test, hyps))[:5]]}


def run_help_plain(minutes=None) -> dict:
    return _help_subwords("help-bpe", minutes, None)


def run_help_attention(minutes=None) -> dict:
    return _help_subwords("help-attention", minutes, HELP_ATTENTION)


def run_sentiment(minutes=None) -> dict:
    from seqlib import data
    from seqlib.data.prepare import encode_source
    from seqlib.torch import load_model
    from seqlib.vocab import Vocab

    minutes = minutes or 5.0
    out = Path("runs/bench-sentiment")
    argv = ["train", "classifier", "--data", "sentiment", "--minutes", str(minutes), "--seed", str(SEED),
            "--out", str(out), "--quiet"]
    started = time.perf_counter()
    summary = _train(argv, out)
    model, ckpt = load_model(out / "best.pt")
    model.eval()
    vocab = Vocab.from_plain(ckpt["vocab"])
    test = data.load("sentiment", "test")
    correct = 0
    with torch.no_grad():
        for text, label in test:
            ids = encode_source(vocab, text.lower() if ckpt["extra"]["lowercase"] else text)
            logits = model(torch.as_tensor(ids[None]), lengths=torch.as_tensor([len(ids)]))
            correct += int(int(logits.argmax()) == int(label))
    majority = max(np.mean([y for _, y in test]), 1 - np.mean([y for _, y in test]))
    return {"name": "sentiment", "command": "python -m seqlib " + " ".join(argv), "minutes_budget": minutes,
            "test_accuracy": round(correct / len(test), 4), "test_sentences": len(test),
            "majority_baseline": round(float(majority), 4), **summary,
            "wall_seconds": round(time.perf_counter() - started, 1)}


# What the Trainer's tokens/s counts for each task (seqlib.train: the task's batch_tokens or loss count).
UNITS = {"lm": "characters", "numbers": "target tokens", "help": "target tokens", "sentiment": "tokens",
         "help-bpe": "target subwords", "help-attention": "target subwords"}

EXPERIMENTS = {"lm": run_lm, "numbers": run_numbers, "help": run_help, "sentiment": run_sentiment,
               "help-bpe": run_help_plain, "help-attention": run_help_attention}


def load_results() -> dict:
    return json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}


def render(results: dict) -> str:
    lines = ["# Results", "",
             "Measured by `python bench/results.py` (regenerate with it; `--help` lists the flags). "
             "Every number below came out of a run on the hardware stated with it; nothing is copied "
             "from elsewhere. Budgets include the evaluations made during training; test-set evaluation "
             f"comes after. Seed {SEED} everywhere.", ""]

    def head(r):
        hw = r["hardware"]
        dev = hw.get("gpu", f"{hw['cpu']}, {hw['cpu_count']} cores, {hw['torch_threads']} torch threads")
        return [f"- run: {r['date']}, device: {r.get('device', 'cpu')} ({dev}), torch {hw['torch']}, "
                f"Python {hw['python']}, load average at start {hw['load_avg_at_start']} "
                "(the machine was shared with other jobs)",
                f"- command: `{r['command']}`",
                f"- training: {r['steps']} steps, {r['train_seconds']} s ({r['stop_reason']}), "
                f"{r['tokens_per_s']} {UNITS[r['name']]}/s, best checkpoint at step {r['best_step']}; "
                f"whole experiment {r['wall_seconds']} s"]

    lm_runs = [results[k] for k in ("lm", "lm-cuda") if k in results]
    if lm_runs:
        lines += ["## Character LM on `shakespeare` (2-layer LSTM)", "",
                  "| budget | device | hidden | batch | valid nats/char | valid bits/char |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['minutes_budget']} min | {r['device']} | {r['hidden']} | {r['batch_size']} | "
                  f"**{r['valid_nats_per_char']}** | {r['valid_bits_per_char']} |" for r in lm_runs]
        lines += ["", "Target: ≤ 1.40 nats/char within 5 minutes on a GPU: " +
                  ("met." if "lm-cuda" in results and results["lm-cuda"]["valid_nats_per_char"] <= 1.40
                   and results["lm-cuda"]["minutes_budget"] <= 5 else
                   "not met." if "lm-cuda" in results else "the GPU run has not been made yet."), ""]
        for r in lm_runs:
            lines += [f"### On {r['device']}", "",
                      f"Trained on {r['steps'] * r['batch_size'] * 100:,} characters (each of the {r['steps']} steps: "
                      f"{r['batch_size']} streams x 100 characters, truncated BPTT)" +
                      (f", {r['steps'] * r['batch_size'] * 100 / r['train_chars']:.2f} passes over the "
                       f"{r['train_chars']:,} characters of the training split. " if "train_chars" in r else ". ") +
                      f"Validation: the whole split ({r['valid_chars']} characters, {r['eval_seconds']} s).", ""]
            lines += head(r) + ["", "Sample at temperature 0.8:", "", "```", r["sample_T0.8"], "```", ""]
    if "numbers" in results:
        r = results["numbers"]
        ok = "met" if r["exact_match"] >= 0.99 else "NOT met"
        lines += ["## `en-ru-numbers` seq2seq (English → Russian number words, numbers below 10^6)", "",
                  f"Exact-match accuracy on test ({r['test_pairs']} pairs, {r['decoding']} decoding): "
                  f"**{r['exact_match']:.2%}** (target ≥ 99%: {ok}).", "",
                  "Accuracy by source length in words (the fixed-size bottleneck): " +
                  ", ".join(f"{k}: {v:.3f}" for k, v in r["accuracy_by_source_words"].items()) +
                  (". At this size (one LSTM layer of 256 units, source read backwards) the bottleneck does "
                   "not show on these short sources; showing it needs a smaller state or an earlier checkpoint."
                   if min(r["accuracy_by_source_words"].values()) >= 0.99 else "."), ""]
        lines += head(r) + [""]
        if r["errors"]:
            lines += ["First errors:", ""] + [f"- {e['src']} → {e['hyp']} (reference: {e['ref']})" for e in r["errors"]] + [""]
    if "help" in results:
        r = results["help"]
        lines += ["## `en-ru-help` seq2seq (LibreOffice help, English → Russian)", "",
                  f"Test ({r['test_pairs']} pairs, {r['decoding']} decoding, sacrebleu): BLEU **{r['bleu']}**, "
                  f"chrF **{r['chrf']}**. An encoder-decoder without attention, word vocabularies with a "
                  "frequency cut-off of 2 (no subwords: rarer words come out as `<unk>`, which counts "
                  "against both scores), trained on CPU within the budget.", ""]
        lines += head(r) + ["", "Examples:", ""] + [f"- {e['src']}\n  - model: {e['hyp']}\n  - reference: {e['ref']}"
                                                    for e in r["examples"]] + [""]
    pair = [results[k] for k in ("help-bpe", "help-attention") if k in results]
    if pair:
        lines += ["## `en-ru-help` on subwords, without and with attention (chapter 7)", "",
                  "The same byte-pair vocabularies (4,000 merges per language, learned on the training split), "
                  "sizes, seed and time budget; only the attention differs. Greedy decoding of the whole test "
                  "split by the int8 copies in `bench/checkpoints/` (the ones chapter 7 loads and checks), "
                  "detokenised, scored by sacrebleu.", "",
                  "| model | budget | steps | BLEU | chrF | BLEU by source length in words |", "|---|---|---|---|---|---|"]
        lines += [f"| {'attention (' + r['attention'] + ')' if r['attention'] else 'no attention'} | "
                  f"{r['minutes_budget']} min | {r['steps']} | **{r['bleu']}** | {r['chrf']} | " +
                  ", ".join(f"{k}: {v['bleu']}" for k, v in r["bleu_by_source_words"].items()) + " |" for r in pair]
        if len(pair) == 2:
            ratio = pair[1]["bleu"] / max(pair[0]["bleu"], 1e-9)
            lines += ["", f"Attention / no attention: {ratio:.2f}x the BLEU (target: at least 1.5x, and 20 BLEU or "
                          f"more: {'met' if ratio >= 1.5 and pair[1]['bleu'] >= 20 else 'not met'})."]
        lines += [""]
        for r in pair:
            lines += [f"### {'With attention' if r['attention'] else 'Without attention'}", ""] + head(r) + [
                "", "Examples:", ""] + [f"- {e['src']}\n  - model: {e['hyp']}\n  - reference: {e['ref']}"
                                        for e in r["examples"]] + [""]
    if "sentiment" in results:
        r = results["sentiment"]
        lines += ["## `sentiment` classifier (bidirectional LSTM)", "",
                  f"Test accuracy: **{r['test_accuracy']:.4f}** on {r['test_sentences']} sentences "
                  f"(majority class: {r['majority_baseline']:.4f}; d2l's BiLSTM reaches 0.86 on IMDb, a different set).", ""]
        lines += head(r) + [""]
    missing = [k for k in EXPERIMENTS if k not in results and not (k == "lm" and "lm-cuda" in results)]
    if missing:
        lines += ["## Not run yet", "", ", ".join(missing), ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="Regenerate bench/results.md with measured numbers.")
    p.add_argument("--lm", action="store_true")
    p.add_argument("--numbers", action="store_true")
    p.add_argument("--help-mt", dest="help_mt", action="store_true", help="en-ru-help translation")
    p.add_argument("--help-attention", dest="help_attention", action="store_true",
                   help="en-ru-help on subwords, without and with attention")
    p.add_argument("--sentiment", action="store_true")
    p.add_argument("--all", action="store_true")
    p.add_argument("--render", action="store_true", help="only rewrite results.md")
    p.add_argument("--rescore-help-copies", action="store_true",
                   help="score bench/checkpoints/help-*.pt again (no training) and update their results")
    p.add_argument("--minutes", type=float, default=None, help="override the time budget of each experiment run")
    args = p.parse_args(argv)
    chosen = [k for k, flag in (("lm", args.lm), ("numbers", args.numbers), ("help", args.help_mt),
                                ("sentiment", args.sentiment)) if flag or args.all]
    chosen += ["help-bpe", "help-attention"] if args.help_attention or args.all else []
    if not chosen and not args.render and not args.rescore_help_copies:
        p.error("choose an experiment (--lm, --numbers, --help-mt, --help-attention, --sentiment, --all) "
                "or --render")
    for name in chosen:
        hw = hardware()
        print(f"[{datetime.datetime.now():%H:%M:%S}] {name} ...", file=sys.stderr, flush=True)
        torch.manual_seed(SEED)
        r = EXPERIMENTS[name](args.minutes)
        r.update(hardware=hw, date=f"{datetime.datetime.now():%Y-%m-%d %H:%M}", seed=SEED)
        results = load_results()
        # The LM has a CPU and a GPU budget: keep one result of each.
        results["lm-cuda" if name == "lm" and r["device"] == "cuda" else name] = r
        RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False))
        RESULTS_MD.write_text(render(results))
        print(json.dumps({k: v for k, v in r.items() if k not in ("errors", "examples", "sample_T0.8")},
                         ensure_ascii=False), file=sys.stderr, flush=True)
    if args.rescore_help_copies:
        results = load_results()
        for name in ("help-bpe", "help-attention"):
            results[name].update(score_help_copy(name))
        RESULTS_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False))
        RESULTS_MD.write_text(render(results))
    if args.render:
        RESULTS_MD.write_text(render(load_results()))


if __name__ == "__main__":
    main()
