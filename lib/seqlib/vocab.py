"""Character and word vocabularies: tokens <-> integer ids.

Chapters: "Language models" (character vocabulary of a corpus, as in min-char-rnn) and
"Sequence to sequence" (word vocabularies with a frequency cut-off, ``<bos>``/``<eos>``).

Ids 0..3 are always the specials ``<pad> <unk> <bos> <eos>``; the other tokens follow in
order of decreasing frequency (ties by the token itself), so a vocabulary built twice from
the same text is the same. A token seen fewer than ``min_freq`` times maps to ``<unk>``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

# Words are runs of letters/digits; every other non-space character is a token of its own,
# so "thousand," is "thousand" + ",".
_WORD = re.compile(r"\w+|[^\w\s]")


#: The two tokenisation levels: characters, or words and punctuation.
LEVELS = ("char", "word")


def tokenize(text: str, level: str) -> list[str]:
    """Split text into characters (level "char") or words and punctuation (level "word")."""
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD.findall(text)
    raise ValueError(f"level is {level!r}, expected one of {LEVELS}")


class Vocab:
    """A fixed mapping between tokens and ids, with the four specials first.

    vocab = Vocab.build(["the cat", "the dog"], level="word", min_freq=1)
    ids = vocab.encode("the cat", bos=True, eos=True)   # (T,) int64
    vocab.decode(ids)                                   # "the cat"
    """

    def __init__(self, tokens: Sequence[str], level: str = "char"):
        tokenize("", level)  # validates level
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            dup = [t for t, c in Counter(tokens).items() if c > 1]
            raise ValueError(f"tokens contains duplicates: {dup[:5]}")
        self.level = level
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: str | Iterable[str], level: str = "char", min_freq: int = 1,
              max_size: int | None = None) -> "Vocab":
        """A vocabulary of the tokens of ``texts`` (one string, or an iterable of them).

        min_freq: tokens seen fewer times become <unk>.  max_size: keep at most this many
        tokens in all, specials included (the most frequent win).
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq is {min_freq!r}, expected an integer >= 1")
        if max_size is not None and (not isinstance(max_size, int) or max_size < len(SPECIALS)):
            raise ValueError(f"max_size is {max_size!r}, expected None or an integer >= {len(SPECIALS)}")
        counts: Counter = Counter()
        for text in [texts] if isinstance(texts, str) else texts:
            counts.update(tokenize(text, level))
        for s in SPECIALS:
            counts.pop(s, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + kept, level)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.level == other.level and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab(level={self.level!r}, size={len(self)})"

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> np.ndarray:
        """(T,) int64 ids of the tokens of ``text``, unknown ones as <unk>."""
        if self.level == "char":
            ids = self._encode_chars(text)
        else:
            ids = np.array([self.stoi.get(t, UNK_ID) for t in tokenize(text, self.level)], dtype=np.int64)
        parts = [[BOS_ID]] if bos else []
        parts += [ids] + ([[EOS_ID]] if eos else [])
        return np.concatenate(parts).astype(np.int64)

    def _encode_chars(self, text: str) -> np.ndarray:
        # One sorted lookup for the whole text: a Python loop over the 9 M characters of
        # python-stdlib takes seconds, this a fraction of one.
        if not hasattr(self, "_char_keys"):
            singles = sorted((ord(t), i) for i, t in enumerate(self.itos) if len(t) == 1)
            self._char_keys = np.array([k for k, _ in singles], dtype=np.uint32)
            self._char_ids = np.array([i for _, i in singles], dtype=np.int64)
        keys, ids = self._char_keys, self._char_ids
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        if len(keys) == 0:
            return np.full(len(codes), UNK_ID, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
        return np.where(keys[pos] == codes, ids[pos], UNK_ID).astype(np.int64)

    def decode(self, ids: Iterable[int], skip_specials: bool = True, stop_at_eos: bool = True) -> str:
        """The text of ``ids``: characters joined as they are, words joined by one space.

        skip_specials drops <pad> and <bos> (and <eos>, which also ends the text when
        stop_at_eos); <unk> is always shown, since it stands for a real token.
        """
        out = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if not 0 <= i < len(self.itos):
                raise ValueError(f"id {i} is outside the vocabulary (size {len(self.itos)})")
            if i == EOS_ID and stop_at_eos:
                break
            if skip_specials and i in (PAD_ID, BOS_ID, EOS_ID):
                continue
            out.append(self.itos[i])
        return ("" if self.level == "char" else " ").join(out)

    def to_text(self, ids: Iterable[int]) -> str:
        """ids as a reader sees them: decoded, and for words detokenized ("file ," -> "file,")."""
        text = self.decode(ids)
        return detokenize(text.split(" ")) if self.level == "word" else text

    def to_plain(self) -> dict:
        """The vocabulary as plain data, {"level": ..., "tokens": [...]}, ids by position:
        what a checkpoint (torch.load with weights_only=True) and a JSON file can hold."""
        return {"level": self.level, "tokens": list(self.itos)}

    @classmethod
    def from_plain(cls, d: dict, source: str = "the data") -> "Vocab":
        """The Vocab of to_plain's dict."""
        if not isinstance(d, dict) or "tokens" not in d or "level" not in d:
            raise ValueError(f"{source} is not a saved Vocab (expected keys 'level' and 'tokens')")
        return cls(d["tokens"], d["level"])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (to_plain's dict)."""
        Path(path).write_text(json.dumps(self.to_plain(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """The Vocab that save wrote to path."""
        return cls.from_plain(json.loads(Path(path).read_text(encoding="utf-8")), str(path))


def detokenize(words: Iterable[str]) -> str:
    """Words joined by spaces, without the space before closing punctuation or after an opening one."""
    text = " ".join(words)
    text = re.sub(r" ([.,;:!?)\]}%])", r"\1", text)
    return re.sub(r"([(\[{]) ", r"\1", text)
