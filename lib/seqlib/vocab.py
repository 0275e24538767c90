"""Character, word and subword (BPE) vocabularies: tokens <-> integer ids.

Chapters: "Language models" (character vocabulary of a corpus, as in min-char-rnn) and
"Sequence to sequence" (word vocabularies with a frequency cut-off, ``<bos>``/``<eos>``, and
subword units learned by byte-pair encoding, seqlib.bpe).

Ids 0..3 are always the specials ``<pad> <unk> <bos> <eos>``; the other tokens follow in
order of decreasing frequency (ties by the token itself), so a vocabulary built twice from
the same text is the same. A token seen fewer than ``min_freq`` times maps to ``<unk>``.
A "bpe" vocabulary keeps its BPE's order instead (characters, then merges as learned) and
the BPE itself; only a character never seen in training maps to ``<unk>``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from seqlib.bpe import BPE

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

# Words are runs of letters/digits; every other non-space character is a token of its own,
# so "thousand," is "thousand" + ",".
_WORD = re.compile(r"\w+|[^\w\s]")


#: The two tokenisation levels: characters, or words and punctuation.
LEVELS = ("char", "word")
#: Every level a Vocab can have: those two, and "bpe", subwords learned from the text (seqlib.bpe).
VOCAB_LEVELS = LEVELS + ("bpe",)


def tokenize(text: str, level: str) -> list[str]:
    """Split text into characters (level "char") or words and punctuation (level "word")."""
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD.findall(text)
    if level == "bpe":
        raise ValueError("level 'bpe' is learned from text: use Vocab.build(texts, level='bpe', merges=...)")
    raise ValueError(f"level is {level!r}, expected one of {LEVELS}")


class Vocab:
    """A fixed mapping between tokens and ids, with the four specials first.

    vocab = Vocab.build(["the cat", "the dog"], level="word", min_freq=1)
    ids = vocab.encode("the cat", bos=True, eos=True)   # (T,) int64
    vocab.decode(ids)                                   # "the cat"

    Level "bpe" holds the BPE that cuts text into pieces (bpe, a seqlib.bpe.BPE); its tokens
    must include every piece of it.
    """

    def __init__(self, tokens: Sequence[str], level: str = "char", bpe: BPE | None = None):
        if level not in VOCAB_LEVELS:
            raise ValueError(f"level is {level!r}, expected one of {VOCAB_LEVELS}")
        if (level == "bpe") != (bpe is not None):
            raise ValueError(f"bpe is {bpe!r} with level {level!r}: level 'bpe', and only it, needs a BPE")
        if bpe is not None and not isinstance(bpe, BPE):
            raise ValueError(f"bpe is a {type(bpe).__name__}, expected a seqlib.bpe.BPE")
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            dup = [t for t, c in Counter(tokens).items() if c > 1]
            raise ValueError(f"tokens contains duplicates: {dup[:5]}")
        if bpe is not None:
            missing = set(bpe.pieces) - set(tokens)
            if missing:
                raise ValueError(f"tokens lacks {len(missing)} pieces of bpe, such as {sorted(missing)[:3]}")
        self.level = level
        self.bpe = bpe
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: str | Iterable[str], level: str = "char", min_freq: int = 1,
              max_size: int | None = None, merges: int | None = None) -> "Vocab":
        """A vocabulary of the tokens of ``texts`` (one string, or an iterable of them).

        min_freq: tokens seen fewer times become <unk>.  max_size: keep at most this many
        tokens in all, specials included (the most frequent win).

        Level "bpe" learns a BPE of ``merges`` merges on texts (seqlib.bpe.BPE.learn): min_freq
        is then the fewest times a pair must be seen to be merged, every character of texts is
        kept, and the size is 4 specials + characters + merges (max_size does not apply).
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq is {min_freq!r}, expected an integer >= 1")
        if max_size is not None and (not isinstance(max_size, int) or max_size < len(SPECIALS)):
            raise ValueError(f"max_size is {max_size!r}, expected None or an integer >= {len(SPECIALS)}")
        if level == "bpe":
            if isinstance(merges, bool) or not isinstance(merges, int) or merges < 0:
                raise ValueError(f"merges is {merges!r}; level 'bpe' needs the number of merges to learn, "
                                 f"an integer >= 0 (8000 is a good start)")
            if max_size is not None:
                raise ValueError(f"max_size is {max_size}; level 'bpe' sets its size with merges instead")
            bpe = BPE.learn(texts, merges, min_frequency=min_freq)
            return cls(list(SPECIALS) + [p for p in bpe.pieces if p not in SPECIALS], level, bpe)
        if merges is not None:
            raise ValueError(f"merges is {merges!r} with level {level!r}; only level 'bpe' learns merges")
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
        return (isinstance(other, Vocab) and self.level == other.level and self.itos == other.itos
                and self.bpe == other.bpe)

    def __repr__(self) -> str:
        return f"Vocab(level={self.level!r}, size={len(self)})"

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> np.ndarray:
        """(T,) int64 ids of the tokens of ``text``, unknown ones as <unk>.

        Level "bpe": the pieces of bpe.encode(text) (whitespace normalised); a character never
        seen in training is <unk>, and so is a piece spelled like a special ("<pad>" in text).
        """
        if self.level == "char":
            ids = self._encode_chars(text)
        elif self.level == "bpe":
            pieces = self.bpe.encode(text)
            ids = np.array([UNK_ID if p in SPECIALS else self.stoi.get(p, UNK_ID) for p in pieces], dtype=np.int64)
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
        """The text of ``ids``: characters joined as they are, words joined by one space, BPE
        pieces joined with their ``▁`` turned back into spaces (the text exactly, normalised).

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
        if self.level == "bpe":
            return self.bpe.decode(out)
        return ("" if self.level == "char" else " ").join(out)

    def to_text(self, ids: Iterable[int]) -> str:
        """ids as a reader sees them: decoded, and for words detokenized ("file ," -> "file,");
        BPE pieces decode to finished text already."""
        text = self.decode(ids)
        return detokenize(text.split(" ")) if self.level == "word" else text

    def to_plain(self) -> dict:
        """The vocabulary as plain data, {"level": ..., "tokens": [...]}, ids by position:
        what a checkpoint (torch.load with weights_only=True) and a JSON file can hold.
        Level "bpe" adds "bpe": its BPE's plain data (BPE.to_plain)."""
        plain = {"level": self.level, "tokens": list(self.itos)}
        if self.bpe is not None:
            plain["bpe"] = self.bpe.to_plain()
        return plain

    @classmethod
    def from_plain(cls, d: dict, source: str = "the data") -> "Vocab":
        """The Vocab of to_plain's dict."""
        if not isinstance(d, dict) or "tokens" not in d or "level" not in d:
            raise ValueError(f"{source} is not a saved Vocab (expected keys 'level' and 'tokens')")
        if d["level"] != "bpe":
            return cls(d["tokens"], d["level"])
        if "bpe" not in d:
            raise ValueError(f"{source} is a saved Vocab of level 'bpe' without its field 'bpe'")
        try:
            bpe = BPE.from_plain(d["bpe"])
        except ValueError as e:
            raise ValueError(f"{source}: field 'bpe': {e}") from None
        return cls(d["tokens"], "bpe", bpe)

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
