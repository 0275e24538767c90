"""Interpretable units: which hidden units of a character model track simple properties of the text.

Chapter: "Language models", section on visualising what the units learn (Karpathy, Johnson
and Fei-Fei 2015, "Visualizing and understanding recurrent networks": a cell that is on
inside quotes, one that counts the position in a line, one that follows bracket depth, and,
in a model of the Linux kernel's C, one on inside comments and quotes and one inside the
condition of an if statement: ``c_features``), and section on word embeddings (the nearest
neighbours of a word-level model's embeddings, by cosine similarity: ``nearest_neighbours``).

Activations are a NumPy array (T, H), one row per character: ``lm_states`` reads them off a
seqlib.torch RNNLM; the NumPy engine's states are arrays already. A feature at step t
describes the text *after reading character t*, which is what the state after step t can know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["lm_states", "inside_quotes", "position_in_line", "bracket_depth", "text_features", "c_features",
           "correlations", "most_correlated_units", "Match", "nearest_neighbours"]

OPEN, CLOSE = "([{", ")]}"


def lm_states(model, ids, which: str = "c", layer: int | str = -1) -> np.ndarray:
    """The hidden state of every step of a seqlib.torch RNNLM reading ids.

    ids: (T,) token ids.  which: "h" (hidden state) or "c" (LSTM cell, shown as tanh(c) as
    in Karpathy et al. 2015).  layer: which layer of the stack, or "all" for every layer side
    by side (unit u of the result is unit u % H of layer u // H).
    Returns (T, H), or (T, L * H) for layer="all".
    """
    import torch

    if which not in ("h", "c"):
        raise ValueError(f"which is {which!r}, expected 'h' or 'c'")
    if layer != "all" and not isinstance(layer, int):
        raise ValueError(f"layer is {layer!r}, expected an int or 'all'")
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(ids), device=device)[None]
    # One step of one sequence is too small to share: a second CPU thread only waits for the
    # first (measured on a busy 2-core machine: 5 ms a step with one thread, 50 with two).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = _read_states(model, x, which, layer)
    finally:
        torch.set_num_threads(threads)
    return np.stack(rows)


def _read_states(model, x, which, layer) -> list:
    import torch

    state, rows = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            _, state = model(x[:, t:t + 1], state)
            if isinstance(state, tuple):
                s = state[0] if which == "h" else torch.tanh(state[1])
            elif which == "c":
                raise ValueError("which='c' needs an LSTM; this model's state has no cell")
            else:
                s = state
            rows.append((s[:, 0].reshape(-1) if layer == "all" else s[layer, 0]).float().cpu().numpy())
    return rows


def inside_quotes(text: str, quotes: str = "\"'") -> np.ndarray:
    """(T,) 1.0 after reading an opening quote up to (not including) its closing quote, else 0.

    A quote of the other kind inside a string is text, not a delimiter ("it's" stays inside).
    """
    out = np.zeros(len(text))
    open_q = None
    for t, ch in enumerate(text):
        if open_q is None and ch in quotes:
            open_q = ch
        elif open_q is not None and ch == open_q:
            open_q = None
        out[t] = open_q is not None
    return out


def position_in_line(text: str) -> np.ndarray:
    """(T,) characters read since the last newline: 0 after a newline, k after the k-th character of a line."""
    out = np.zeros(len(text))
    pos = 0
    for t, ch in enumerate(text):
        pos = 0 if ch == "\n" else pos + 1
        out[t] = pos
    return out


def bracket_depth(text: str) -> np.ndarray:
    """(T,) open brackets ( [ { not yet closed after reading character t (never below 0)."""
    out = np.zeros(len(text))
    depth = 0
    for t, ch in enumerate(text):
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth = max(depth - 1, 0)
        out[t] = depth
    return out


def text_features(text: str) -> dict[str, np.ndarray]:
    """The lecture's three features of a text, each (T,)."""
    return {"inside quotes": inside_quotes(text), "position in line": position_in_line(text),
            "bracket depth": bracket_depth(text)}


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def c_features(text: str) -> dict[str, np.ndarray]:
    """Features of C source, each (T,), from one pass of a small lexer.

    - "inside comment": 1.0 after reading the opening ``/*`` or ``//`` up to (not including)
      the closing ``*/`` (or the newline that ends a ``//`` comment);
    - "inside string": the same for string and character literals, ``"..."`` and ``'...'``
      (a backslash escapes the next character);
    - "comment or quote": either of the two, the lecture's comment-and-quote cell;
    - "inside if condition": after reading the ``(`` that follows the keyword ``if`` (not a
      preprocessor ``#if``) up to (not including) its matching ``)``;
    - "bracket depth" and "position in line", as for any text.

    Quotes inside comments and brackets inside comments or strings are text, not syntax.
    """
    T = len(text)
    comment, string, condition = np.zeros(T), np.zeros(T), np.zeros(T)
    state = "code"            # code, block, line, string
    block_open = -1           # where the "*" of the open block comment is
    slash = -2                # where the last "/" read as code is (it may open a comment)
    quote = ""                # the delimiter of the open literal
    escaped = False
    wants_paren = False       # just read the keyword if, waiting for its "("
    cond_depth = 0            # open parentheses of the current if condition
    line_start = 0
    for t, ch in enumerate(text):
        prev = text[t - 1] if t else ""
        if state == "block":
            if prev == "*" and ch == "/" and t - 1 > block_open:
                state = "code"
        elif state == "line":
            if ch == "\n":
                state = "code"
        elif state == "string":
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote or ch == "\n":  # an unterminated literal ends with its line
                state = "code"
        else:
            opener = slash == t - 1  # the previous character was a "/" of code
            if opener and ch == "*":
                state, block_open = "block", t
            elif opener and ch == "/":
                state = "line"
            elif ch == "/":
                slash = t
            elif ch in "\"'":
                state, quote, escaped = "string", ch, False
            elif ch == "(" and (wants_paren or cond_depth):
                cond_depth += 1
                wants_paren = False
            elif ch == ")" and cond_depth:
                cond_depth -= 1
            elif (ch == "f" and prev == "i" and (t < 2 or not _is_word(text[t - 2]))
                  and not text[line_start:t - 1].strip().startswith("#")):
                wants_paren = True  # "if" so far; a following letter makes it another word
            elif not ch.isspace():
                wants_paren = False
        if ch == "\n":
            line_start = t + 1
        comment[t] = state in ("block", "line")
        string[t] = state == "string"
        condition[t] = cond_depth > 0
    return {"comment or quote": np.maximum(comment, string), "inside comment": comment,
            "inside string": string, "inside if condition": condition,
            "bracket depth": bracket_depth(text), "position in line": position_in_line(text)}


def correlations(activations, feature) -> np.ndarray:
    """(H,) Pearson correlation of every unit's activation with one feature over time.

    activations: (T, H).  feature: (T,). A unit (or feature) that never changes has no
    correlation to speak of and gets 0, not NaN.
    """
    a = np.asarray(activations, dtype=np.float64)
    f = np.asarray(feature, dtype=np.float64)
    if a.ndim != 2 or f.shape != (a.shape[0],):
        raise ValueError(f"activations has shape {a.shape} and feature {f.shape}, expected (T, H) and (T,)")
    a = a - a.mean(axis=0)
    f = f - f.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (f @ f))
    num = f @ a
    return np.divide(num, denom, out=np.zeros_like(num), where=denom > 1e-12)


@dataclass(frozen=True)
class Match:
    """One unit's correlation with one feature: r in [-1, 1] (a negative r is as telling)."""

    feature: str
    unit: int
    r: float


def most_correlated_units(activations, features, k: int = 3) -> dict[str, list[Match]]:
    """For each feature, the k units whose activation correlates most with it (by |r|), best first.

    activations: (T, H).  features: a dict name -> (T,) array, or a text (its text_features).
    """
    if isinstance(features, str):
        features = text_features(features)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k is {k!r}, expected an integer >= 1")
    out = {}
    for name, f in features.items():
        r = correlations(activations, f)
        best = np.argsort(-np.abs(r), kind="stable")[:k]
        out[name] = [Match(name, int(u), float(r[u])) for u in best]
    return out


def nearest_neighbours(E, vocab, words, k: int = 5, ignore=("<pad>", "<unk>", "<bos>", "<eos>")) -> dict:
    """For each of ``words``, the k tokens whose embeddings are most similar to its own, by cosine.

    E: (V, D) an embedding matrix, row i the vector of token i (e.g. model.embed.weight).
    vocab: a seqlib Vocab, or the sequence of its V tokens (vocab.itos).  words: the query
    tokens, each in the vocabulary.  ignore: tokens never given as neighbours (by default the
    specials, which a language model reads rarely or never); the word itself never is.
    Returns {word: [(neighbour, cosine similarity), ...]}, most similar first. A row of zeros
    has no direction and gets similarity 0 with everything.
    """
    itos = list(getattr(vocab, "itos", vocab))
    if hasattr(E, "detach"):  # a torch tensor or Parameter
        E = E.detach().cpu().numpy()
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2 or E.shape[0] != len(itos):
        raise ValueError(f"E has shape {E.shape}, expected (V, D) with V = len(vocab) = {len(itos)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k is {k!r}, expected an integer >= 1")
    if isinstance(words, str):
        words = [words]
    stoi = {t: i for i, t in enumerate(itos)}
    missing = [w for w in words if w not in stoi]
    if missing:
        raise ValueError(f"words has {missing[:5]}, not in the vocabulary of {len(itos)} tokens")
    norms = np.linalg.norm(E, axis=1)
    unit = np.divide(E, norms[:, None], out=np.zeros_like(E), where=norms[:, None] > 1e-12)
    ignore = set(ignore)
    allowed = np.array([t not in ignore for t in itos])
    out = {}
    for w in words:
        sims = unit @ unit[stoi[w]]
        candidates = np.flatnonzero(allowed & (np.arange(len(itos)) != stoi[w]))
        best = candidates[np.argsort(-sims[candidates], kind="stable")[:k]]
        out[w] = [(itos[i], float(sims[i])) for i in best]
    return out
