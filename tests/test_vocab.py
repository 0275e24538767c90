"""seqlib.vocab: ids, specials, cut-offs and the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seqlib.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab, detokenize, tokenize


def test_char_vocab_orders_by_frequency_after_the_specials():
    v = Vocab.build("abracadabra\n")
    assert v.itos[:4] == list(SPECIALS) and (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert v.itos[4:] == ["a", "b", "r", "\n", "c", "d"]  # counts 5, 2, 2, then ties by token
    ids = v.encode("abc\n", bos=True, eos=True)
    assert ids.dtype == np.int64 and ids.tolist() == [BOS_ID, 4, 5, 8, 7, EOS_ID]
    assert v.decode(ids) == "abc\n"
    assert v.encode("xa").tolist() == [UNK_ID, 4] and v.decode(v.encode("xa")) == "<unk>a"


def test_word_vocab_cut_off_and_max_size():
    texts = ["the cat sat.", "the dog sat, the end.", "a cat"]
    assert tokenize(texts[1], "word") == ["the", "dog", "sat", ",", "the", "end", "."]
    v = Vocab.build(texts, level="word", min_freq=2)
    assert v.itos[4:] == ["the", ".", "cat", "sat"]
    assert "dog" not in v and v.encode("the dog").tolist() == [4, UNK_ID]
    assert v.decode(v.encode("the cat sat.")) == "the cat sat ."
    small = Vocab.build(texts, level="word", max_size=6)
    assert len(small) == 6 and small.itos[4:] == ["the", "."]


def test_decode_stops_at_eos_and_skips_padding():
    v = Vocab.build(["x y z"], level="word")
    ids = [BOS_ID, v.stoi["x"], v.stoi["y"], EOS_ID, v.stoi["z"], PAD_ID]
    assert v.decode(ids) == "x y"
    assert v.decode(ids, stop_at_eos=False) == "x y z"
    assert v.decode(ids, skip_specials=False, stop_at_eos=False) == "<bos> x y <eos> z <pad>"
    with pytest.raises(ValueError, match="id 99 is outside the vocabulary"):
        v.decode([99])


def test_save_and_load_round_trip(tmp_path):
    v = Vocab.build(["прива, мир", "hello"], level="char", min_freq=1)
    path = tmp_path / "vocab.json"
    v.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][:4] == list(SPECIALS)
    w = Vocab.load(path)
    assert w == v and w.encode("мир hello").tolist() == v.encode("мир hello").tolist()
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a saved Vocab"):
        Vocab.load(path)


def test_bad_arguments():
    with pytest.raises(ValueError, match="level is 'byte'"):
        Vocab.build("abc", level="byte")
    with pytest.raises(ValueError, match="min_freq is 0"):
        Vocab.build("abc", min_freq=0)
    with pytest.raises(ValueError, match="max_size is 2"):
        Vocab.build("abc", max_size=2)
    with pytest.raises(ValueError, match="duplicates"):
        Vocab(list(SPECIALS) + ["a", "a"])


def test_char_encode_is_the_token_by_token_lookup():
    vocab = Vocab.build("hello world")
    text = "hello, wörld\n"  # unseen characters, one outside ASCII
    want = [vocab.stoi.get(ch, vocab.unk_id) for ch in text]
    np.testing.assert_array_equal(vocab.encode(text), want)
    np.testing.assert_array_equal(vocab.encode(text, bos=True, eos=True), [BOS_ID] + want + [EOS_ID])
    assert vocab.encode("").shape == (0,) and vocab.encode("").dtype == np.int64


def test_detokenize_and_to_text():
    assert detokenize(["Open", "(", "the", "file", ")", ",", "then", "save", "."]) == "Open (the file), then save."
    words = Vocab.build(["Open (the file), then save."], level="word")
    assert words.to_text(words.encode("Open (the file), then save.", eos=True)) == "Open (the file), then save."
    chars = Vocab.build("a b")
    assert chars.to_text(chars.encode("b a")) == "b a"


def test_plain_round_trip_and_a_clear_error():
    v = Vocab.build(["the cat sat"], level="word")
    assert Vocab.from_plain(v.to_plain()) == v
    assert json.loads(json.dumps(v.to_plain())) == v.to_plain()  # plain data: JSON holds it as it is
    with pytest.raises(ValueError, match="checkpoint is not a saved Vocab"):
        Vocab.from_plain({"tokens": []}, "checkpoint")


# --------------------------------------------------------------------------- level "bpe"


def test_bpe_level_round_trips_and_unknown_characters_are_unk(tmp_path):
    texts = ["the lower newest", "the widest lowest", "a lower note"]
    v = Vocab.build(texts, level="bpe", merges=12, min_freq=1)
    assert v.itos[:4] == list(SPECIALS) and v.itos[4:] == v.bpe.pieces
    assert len(v) == 4 + len(v.bpe.alphabet) + len(v.bpe.merges) and len(v.bpe.merges) == 12
    ids = v.encode("the  lowest\tnote", bos=True, eos=True)  # whitespace is normalised
    assert ids.dtype == np.int64 and ids[0] == BOS_ID and ids[-1] == EOS_ID and UNK_ID not in ids
    assert ids[1:-1].tolist() == [v.stoi[p] for p in v.bpe.encode("the lowest note")]
    assert v.decode(ids) == v.to_text(ids) == "the lowest note"
    pieces = v.bpe.encode("the zebra")  # z, b never seen: single characters, <unk> in the Vocab
    assert "z" in pieces and "z" not in v
    assert v.encode("the zebra").tolist() == [v.stoi.get(p, UNK_ID) for p in pieces]
    assert v.decode(v.encode("the zebra")) == v.bpe.decode([p if p in v else "<unk>" for p in pieces])
    path = tmp_path / "bpe.json"
    v.save(path)
    plain = json.loads(path.read_text(encoding="utf-8"))
    assert plain["level"] == "bpe" and plain["tokens"] == v.itos and plain["bpe"] == v.bpe.to_plain()
    assert Vocab.load(path) == v and Vocab.from_plain(v.to_plain()) == v
    assert Vocab.build(texts, level="bpe", merges=11, min_freq=1) != v  # the BPE counts in ==


def test_a_bpe_piece_spelled_like_a_special_is_unk():
    v = Vocab.build(["x<pad> y<pad> z<pad>"] * 4, level="bpe", merges=6, min_freq=2)
    assert "<pad>" in v.bpe.pieces and v.itos.count("<pad>") == 1
    ids = v.encode("q<pad>").tolist()
    assert PAD_ID not in ids and ids[-1] == UNK_ID


def test_bpe_level_bad_arguments():
    with pytest.raises(ValueError, match="merges is 10 with level 'word'; only level 'bpe' learns merges"):
        Vocab.build("abc", level="word", merges=10)
    with pytest.raises(ValueError, match="merges is None; level 'bpe' needs the number of merges"):
        Vocab.build("abc", level="bpe")
    with pytest.raises(ValueError, match="merges is -1; level 'bpe'"):
        Vocab.build("abc", level="bpe", merges=-1)
    with pytest.raises(ValueError, match="max_size is 100; level 'bpe' sets its size with merges"):
        Vocab.build("abc", level="bpe", merges=10, max_size=100)
    bpe = Vocab.build("ab ab", level="bpe", merges=2).bpe  # a b ▁, ab, ▁ab
    with pytest.raises(ValueError, match="bpe is None with level 'bpe'"):
        Vocab(["a"], level="bpe")
    with pytest.raises(ValueError, match="with level 'word': level 'bpe', and only it, needs a BPE"):
        Vocab(["a"], level="word", bpe=bpe)
    with pytest.raises(ValueError, match="tokens lacks 4 pieces of bpe"):
        Vocab(list(SPECIALS) + ["a"], level="bpe", bpe=bpe)
    with pytest.raises(ValueError, match="level 'bpe' is learned from text"):
        tokenize("ab", "bpe")


def test_bpe_level_plain_data_errors_name_the_field():
    plain = Vocab.build("ab ab", level="bpe", merges=2).to_plain()
    with pytest.raises(ValueError, match="checkpoint is a saved Vocab of level 'bpe' without its field 'bpe'"):
        Vocab.from_plain({"level": "bpe", "tokens": plain["tokens"]}, "checkpoint")
    broken = dict(plain, bpe={"alphabet": plain["bpe"]["alphabet"], "merges": [["a", "x"]]})
    with pytest.raises(ValueError, match=r"v.json: field 'bpe': merges\[0\] is \['a', 'x'\]: 'x' is neither"):
        Vocab.from_plain(broken, "v.json")
