"""Byte-pair encoding (BPE): subword units learned from text, for translation.

Chapters: "Sequence to sequence" (a vocabulary of subwords instead of words) and "Attention"
(book/07_attention.md, the translator trained on them).

A word vocabulary has no id for a word it never saw: "reconnected" becomes ``<unk>`` even when
"re", "connect" and "ed" are all familiar. BPE (Sennrich, Haddow and Birch, 2016, "Neural
Machine Translation of Rare Words with Subword Units") starts from characters and merges, again
and again, the most frequent adjacent pair of symbols in the training words into one new symbol.
Frequent words end as one piece, rare words as a few frequent pieces, and any word made of known
characters can be written. The list of merges, in the order they were learned, is the model:
to segment a new word, start from its characters and apply the earliest-learned merge that
fits, again and again.

Words are marked as SentencePiece does: each one starts with the meta symbol ``▁`` (U+2581),
so "the cat" is ``▁the ▁cat``, and joining the pieces and turning ``▁`` back into spaces
restores the text exactly (see ``normalize`` for the one thing that is not kept).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from typing import Iterable, Sequence

__all__ = ["META", "BPE", "normalize", "split_words"]

#: Marks the start of a word; a piece that starts with it starts a word.
META = "\u2581"


def normalize(text: str) -> str:
    """The text as BPE sees it: every run of whitespace (spaces, tabs, newlines, non-breaking
    spaces, and ``▁`` itself) one space, none at either end. decode(encode(s)) == normalize(s)."""
    return " ".join(text.replace(META, " ").split())


def split_words(text: str) -> list[str]:
    """The words of normalize(text), each with ``▁`` in front: "the  cat" -> ["▁the", "▁cat"].

    Pre-tokenisation is by whitespace only: "file," is one word, and BPE learns whether the
    comma deserves a piece of its own.
    """
    return [META + w for w in text.replace(META, " ").split()]


def _merge_pair(symbols: list[str], a: str, b: str) -> list[str]:
    """symbols with every (a, b) replaced by a + b, left to right: "a a a" -> "aa a"."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _check_count(value, name: str, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} is {value!r}, expected an integer >= {least}")


class BPE:
    """A learned byte-pair encoding: the alphabet and the merges, in the order learned.

    bpe = BPE.learn(sentences, num_merges=8000)
    pieces = bpe.encode("Choose Tools - Options.")   # ["▁Choose", "▁Tools", "▁-", "▁Op", ...]
    bpe.decode(pieces)                                # "Choose Tools - Options."

    A character never seen in training stays a piece of its own, one character long, that no
    merge touches; seqlib.vocab.Vocab maps it to <unk>. ``pieces`` lists every piece encode can
    return for text made of known characters: the alphabet, then each merge's result.
    """

    def __init__(self, alphabet: Sequence[str], merges: Sequence[tuple[str, str]]):
        alphabet = list(alphabet)
        bad = [c for c in alphabet if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"alphabet holds {bad[0]!r}, expected single characters")
        if len(set(alphabet)) != len(alphabet):
            raise ValueError(f"alphabet holds {[c for c, n in Counter(alphabet).items() if n > 1][0]!r} twice")
        # When each piece entered the vocabulary: the alphabet first, then each merge's result
        # (a string made twice, "ab"+"c" and "a"+"bc", keeps its first place).
        self.order: dict[str, int] = {c: i for i, c in enumerate(alphabet)}
        self.merges: list[tuple[str, str]] = []
        for i, pair in enumerate(merges):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ValueError(f"merges[{i}] is {pair!r}, expected a pair of strings")
            for part in pair:
                if part not in self.order:
                    raise ValueError(f"merges[{i}] is {list(pair)!r}: {part!r} is neither in alphabet "
                                     f"nor made by an earlier merge")
            self.merges.append((pair[0], pair[1]))
            self.order.setdefault(pair[0] + pair[1], len(self.order))
        self.alphabet = alphabet
        # rank: a merge's place in the list. A pair learned twice keeps its first (earlier) rank.
        self.ranks: dict[tuple[str, str], int] = {}
        for rank, pair in enumerate(self.merges):
            self.ranks.setdefault(pair, rank)
        self._cache: dict[str, tuple[str, ...]] = {}

    @property
    def pieces(self) -> list[str]:
        """Every piece of the vocabulary, in the order it entered: alphabet, then merge results."""
        return list(self.order)

    # ------------------------------------------------------------------ learning

    @classmethod
    def learn(cls, texts: str | Iterable[str], num_merges: int, min_frequency: int = 2) -> "BPE":
        """Learn up to num_merges merges from texts (one string, or an iterable of sentences).

        Learning stops early when the most frequent pair is seen fewer than min_frequency times
        (a pair seen once only spells out one word). Words are counted first, so the work is
        over distinct words, each weighted by its count.

        Ties: among pairs seen equally often, the one whose left piece entered the vocabulary
        first wins, then the one whose right piece did; the alphabet enters in code-point order,
        before any merge result. This is the rule of Hugging Face's BpeTrainer, so the two learn
        the same merges (tests/test_bpe.py checks it).
        """
        _check_count(num_merges, "num_merges", 0)
        _check_count(min_frequency, "min_frequency", 1)
        word_counts = Counter(w for text in ([texts] if isinstance(texts, str) else texts) for w in split_words(text))
        alphabet = sorted({ch for w in word_counts for ch in w})
        order = {ch: i for i, ch in enumerate(alphabet)}  # for ties, as in __init__
        words = [list(w) for w in word_counts]
        counts = list(word_counts.values())

        # pair -> how often it occurs (a word seen n times counts n; "aaa" holds a a twice, as in
        # Sennrich's code and Hugging Face's), and the words it occurs in
        pair_counts: dict[tuple[str, str], int] = defaultdict(int)
        where: dict[tuple[str, str], set[int]] = defaultdict(set)
        for i, w in enumerate(words):
            for pair in zip(w, w[1:]):
                pair_counts[pair] += counts[i]
                where[pair].add(i)

        # The most frequent pair is the top of a heap of (-count, order of left, order of right).
        # Counts change after every merge; rather than fixing the heap, an entry whose count is
        # out of date is pushed back with the true count when it comes to the top.
        heap = [(-c, order[a], order[b], a, b) for (a, b), c in pair_counts.items()]
        heapq.heapify(heap)
        merges: list[tuple[str, str]] = []
        while heap and len(merges) < num_merges:
            negative, _, _, a, b = heapq.heappop(heap)
            count = pair_counts.get((a, b), 0)
            if count != -negative:
                if 0 < count < -negative:  # fell: back in with its true count (a rise was pushed anew)
                    heapq.heappush(heap, (-count, order[a], order[b], a, b))
                continue
            if count < min_frequency:
                break
            merges.append((a, b))
            order.setdefault(a + b, len(order))
            # Rewrite only the words that hold the pair, and update the counts of the pairs
            # they lose and gain: a few words per merge instead of the whole corpus.
            change: dict[tuple[str, str], int] = defaultdict(int)
            for i in where.pop((a, b)):
                old = words[i]
                new = _merge_pair(old, a, b)
                if len(new) == len(old):
                    continue  # the pair left this word in an earlier merge
                words[i] = new
                for pair in zip(old, old[1:]):
                    change[pair] -= counts[i]
                for pair in zip(new, new[1:]):
                    change[pair] += counts[i]
                    where[pair].add(i)
            for pair, delta in change.items():
                pair_counts[pair] += delta
                if delta > 0:
                    heapq.heappush(heap, (-pair_counts[pair], order[pair[0]], order[pair[1]], *pair))
        return cls(alphabet, merges)

    # ------------------------------------------------------------------ applying

    def segment(self, word: str) -> tuple[str, ...]:
        """The pieces of one word (with its leading ``▁``): start from the characters and apply
        the lowest-ranked (earliest learned) merge among adjacent pairs, leftmost first, until
        none applies. Cached: a corpus repeats its words."""
        pieces = self._cache.get(word)
        if pieces is None:
            symbols = list(word)
            while len(symbols) > 1:
                rank, i = min((self.ranks.get(pair, math.inf), i) for i, pair in enumerate(zip(symbols, symbols[1:])))
                if rank == math.inf:
                    break
                symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
            if len(self._cache) >= 1_000_000:  # a bound, for a stream of text that never repeats
                self._cache.clear()
            pieces = self._cache[word] = tuple(symbols)
        return pieces

    def encode(self, text: str) -> list[str]:
        """The pieces of text, word by word (see split_words); whitespace is normalised."""
        return [p for w in split_words(text) for p in self.segment(w)]

    def decode(self, pieces: Iterable[str]) -> str:
        """The text of pieces: joined, ``▁`` back to spaces, without the first word's space."""
        text = "".join(pieces).replace(META, " ")
        return text[1:] if text.startswith(" ") else text

    # ------------------------------------------------------------------ plain data

    def to_plain(self) -> dict:
        """{"alphabet": [chars], "merges": [[left, right], ...]}: what JSON and a checkpoint hold."""
        return {"alphabet": list(self.alphabet), "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_plain(cls, d: dict) -> "BPE":
        """The BPE of to_plain's dict; a ValueError names the field that is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"a saved BPE is a dict with fields 'alphabet' and 'merges', not {type(d).__name__}")
        for field in ("alphabet", "merges"):
            if not isinstance(d.get(field), list):
                got = "missing" if field not in d else f"a {type(d[field]).__name__}"
                raise ValueError(f"saved BPE field {field!r} is {got}, expected a list")
        return cls(d["alphabet"], d["merges"])

    def __eq__(self, other) -> bool:
        return isinstance(other, BPE) and self.alphabet == other.alphabet and self.merges == other.merges

    def __repr__(self) -> str:
        return f"BPE(alphabet={len(self.alphabet)} characters, merges={len(self.merges)})"
