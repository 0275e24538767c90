"""seqlib.bpe against Hugging Face tokenizers, the oracle: the same merges learned, the same
pieces cut, on real sentences (en-ru-help when fetched, num2words' en-ru-numbers always) and
on hand-written edge cases; the text back exactly; the paper's toy example by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlib.bpe import BPE, META, normalize, split_words
from seqlib.data import registry, translation
from seqlib.data.prepare import prepare_pairs
from seqlib.vocab import SPECIALS, UNK, UNK_ID, Vocab

tokenizers = pytest.importorskip("tokenizers")

checked = settings(max_examples=150, deadline=None, derandomize=True)

# Text no corpus prepares for: punctuation, digits, runs of one letter, characters never seen
# in training, and whitespace that normalize() folds.
EDGE = ["aaaa", "aaaaaaa aa a", "Hello, world!", "3.14159 and 2,000,000 (approx.)", "e-mail: user@example.org",
        "«Ёлка» — ёжик.", "naïve café ☃ 中文", "\tTabs\nand  double  spaces ", "a▁meta▁symbol", "", "!!!", "x" * 60]


def metaspace():
    """HF's pre-tokenizer that does what split_words does: a ▁ before every word."""
    return tokenizers.pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)


def hf_segmenter(bpe: BPE):
    """A Hugging Face BPE model made of OUR pieces and merges, <unk> for unknown characters."""
    vocab = {UNK: 0, **{p: i + 1 for i, p in enumerate(bpe.pieces)}}
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, bpe.merges, unk_token=UNK))
    tok.pre_tokenizer = metaspace()
    tok.decoder = tokenizers.decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    return tok


def hf_learn(texts: list[str], vocab_size: int, min_frequency: int) -> tuple[list[str], list[tuple[str, str]]]:
    """(pieces in id order, merges) of Hugging Face's BpeTrainer on texts."""
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = metaspace()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return sorted(model["vocab"], key=model["vocab"].get), merges


# --------------------------------------------------------------------------- corpora


def help_pairs():
    """en-ru-help's train and valid splits, or a skip when the Debian packages are not cached."""
    ds = registry.get("en-ru-help")
    if not all(a.path(ds.name).exists() for a in ds.archives):
        pytest.skip("en-ru-help not fetched (python -m seqlib.data fetch en-ru-help)")
    return registry.load("en-ru-help", "train", download=False), registry.load("en-ru-help", "valid", download=False)


def number_pairs():
    """num2words' English and Russian numbers, made here (no download): every tenth held out."""
    pytest.importorskip("num2words")
    pairs = translation.en_ru_numbers(total=3000, small=100)
    return [p for i, p in enumerate(pairs) if i % 10], pairs[::10]


CORPORA = {"en-ru-help": (help_pairs, 8000), "en-ru-numbers": (number_pairs, 400)}


@pytest.fixture(scope="module", params=[(c, lang) for c in CORPORA for lang in (0, 1)],
                ids=lambda p: f"{p[0]}-{'en' if p[1] == 0 else 'ru'}")
def case(request):
    """One language of one corpus: its training and held-out sentences, and the BPE learned on train."""
    name, lang = request.param
    load, merges = CORPORA[name]
    train, held = load()
    train, held = [p[lang] for p in train], [p[lang] for p in held]
    return {"train": train, "held": held, "merges": merges, "bpe": BPE.learn(train, merges)}


# --------------------------------------------------------------------------- the oracle


def test_segmentation_is_hugging_faces_with_our_merges(case):
    bpe, hf = case["bpe"], hf_segmenter(case["bpe"])
    known = set(bpe.pieces)
    for text in case["held"] + EDGE:
        ours = [p if p in known else UNK for p in bpe.encode(text)]
        want = hf.encode(normalize(text)).tokens
        assert ours == want, f"{text!r}: ours {ours}, Hugging Face {want}"
    # the held-out text is cut into pieces longer than characters: merges were applied
    pieces = [p for t in case["held"] for p in bpe.encode(t)]
    assert len(pieces) < sum(map(len, split_words(" ".join(case["held"])))) / 3 and max(map(len, pieces)) > 3


def test_learning_gives_hugging_faces_merges_exactly(case):
    """HF's BpeTrainer breaks ties by the smallest (left id, right id), ids given to characters
    in code-point order and to merge results in order: our rule, so the lists are equal."""
    bpe = case["bpe"]
    texts = [normalize(t) for t in case["train"]]
    pieces, merges = hf_learn(texts, vocab_size=len(bpe.pieces), min_frequency=2)
    assert len(bpe.merges) > 50  # not a trivial run: numbers stop at min_frequency after ~100
    first = next((i for i, (a, b) in enumerate(zip(bpe.merges, merges)) if a != b), None)
    assert first is None, f"merge {first}: ours {bpe.merges[first]}, Hugging Face {merges[first]}"
    assert merges == bpe.merges and pieces == bpe.pieces


@checked
@given(st.lists(st.lists(st.text("abc", min_size=1, max_size=8), min_size=1, max_size=4), min_size=1, max_size=6),
       st.integers(1, 3), st.integers(0, 30))
def test_ties_are_broken_as_hugging_face_breaks_them(sentences, min_frequency, num_merges):
    """Tiny alphabets and short words: most pairs tie, so the rule decides nearly every merge."""
    texts = [" ".join(words) for words in sentences]
    bpe = BPE.learn(texts, num_merges, min_frequency)
    pieces, merges = hf_learn(texts, len(bpe.pieces), min_frequency)
    assert (merges, pieces) == (bpe.merges, bpe.pieces)


def test_decoding_gives_the_text_back(case):
    bpe, hf = case["bpe"], hf_segmenter(case["bpe"])
    for text in case["held"] + EDGE:
        assert bpe.decode(bpe.encode(text)) == normalize(text)
    known = [normalize(t) for t in case["held"] if set(normalize(t)) <= set(bpe.alphabet) | {" "}]
    assert len(known) > len(case["held"]) / 2
    for text in known:  # HF's Metaspace decoder agrees where no character is <unk>
        assert hf.decode(hf.encode(text).ids) == bpe.decode(bpe.encode(text)) == text


@checked
@given(st.text(st.sampled_from("ab xy\t\n\u00a0" + META + "!é中"), max_size=40))
def test_round_trip_of_any_text_is_its_normal_form(text):
    bpe = BPE.learn(["ab ab aab xy, x!", "b a yx"], 20, min_frequency=1)
    pieces = bpe.encode(text)
    assert bpe.decode(pieces) == normalize(text) == " ".join(text.replace(META, " ").split())
    assert sum(p.startswith(META) for p in pieces) == len(normalize(text).split())  # one ▁ a word


# --------------------------------------------------------------------------- by hand


def test_the_papers_example_by_hand():
    """Sennrich et al.'s dictionary, low x5, lower x2, newest x6, widest x3, with ▁ in front.

    Pair counts at the start: e s 9 (newest 6 + widest 3), s t 9, w e 8 (newest 6 + lower 2),
    ▁ l 7, l o 7, o w 7, ▁ n / n e / e w 6, ▁ w / w i / i d / d e 3, e r 2.
    1. e s and s t tie at 9: the left pieces e and s are characters, and e comes first -> es.
    2. es t is now 9 (s t went into es t) -> est.
    3. ▁ l, l o, o w tie at 7: of the left pieces ▁ (U+2581), l, o, l comes first -> lo.
    4. ▁ lo and lo w tie at 7: the character ▁ entered before the merge result lo -> ▁lo.
    5. ▁lo w 7 -> ▁low.
    6. ▁ n, n e, e w, w est tie at 6 (w e fell to 2: newest's e s went first) -> e w wins -> ew.
    The paper marks word ends (r</w>, lo, low, er</w>); marking starts gives other merges.
    """
    words = ["low"] * 5 + ["lower"] * 2 + ["newest"] * 6 + ["widest"] * 3
    bpe = BPE.learn(" ".join(words), 6, min_frequency=1)
    assert bpe.merges == [("e", "s"), ("es", "t"), ("l", "o"), (META, "lo"), (META + "lo", "w"), ("e", "w")]
    assert bpe.pieces[-6:] == ["es", "est", "lo", META + "lo", META + "low", "ew"]
    assert bpe.encode("lowest newer") == [META + "low", "est", META, "n", "ew", "e", "r"]  # unseen words
    assert bpe.decode(bpe.encode("lowest newer")) == "lowest newer"
    assert BPE.learn(words, 100, min_frequency=7).merges == bpe.merges[:5]  # then the best pair has 6


def test_the_lowest_rank_merges_first_not_the_leftmost_pair():
    bpe = BPE(alphabet=[META, "a", "b", "c"], merges=[("a", "b"), (META, "a"), ("b", "c")])
    assert bpe.encode("ab") == [META, "ab"]  # a b (rank 0) before ▁ a (rank 1), the leftmost pair
    assert bpe.encode("abc") == [META, "ab", "c"]  # a b takes the b that b c (rank 2) wanted
    assert bpe.encode("ac bc") == [META + "a", "c", META, "bc"]
    assert BPE(alphabet=["a"], merges=[("a", "a")]).segment("aaaaa") == ("aa", "aa", "a")  # leftmost first


def test_learning_counts_words_not_sentences():
    one = BPE.learn(["to be or not to be"] * 3, 10, min_frequency=1)
    again = BPE.learn(["to be", "or not", "to be"] * 3, 10, min_frequency=1)
    # to and be are seen 6 times, so are ▁ t, t o, ▁ b, b e. Of the left pieces (b e n o r t ▁ in
    # code-point order) b is first: b e; then t o; then ▁ be beats ▁ to (be was made first).
    assert one == again and one.merges[:3] == [("b", "e"), ("t", "o"), (META, "be")]
    assert BPE.learn("", 10).merges == [] and BPE.learn(["a b"], 0).merges == []


# --------------------------------------------------------------------------- plain data


def test_plain_data_round_trip(case):
    bpe = case["bpe"]
    again = BPE.from_plain(json.loads(json.dumps(bpe.to_plain())))
    assert again == bpe and again.pieces == bpe.pieces
    assert [again.encode(t) for t in case["held"][:50]] == [bpe.encode(t) for t in case["held"][:50]]


@pytest.mark.parametrize("plain, message", [
    ([["a", "b"]], "a saved BPE is a dict with fields 'alphabet' and 'merges', not list"),
    ({"alphabet": ["a"]}, "saved BPE field 'merges' is missing, expected a list"),
    ({"alphabet": "ab", "merges": []}, "saved BPE field 'alphabet' is a str, expected a list"),
    ({"alphabet": ["a", "bc"], "merges": []}, "alphabet holds 'bc', expected single characters"),
    ({"alphabet": ["a", "a"], "merges": []}, "alphabet holds 'a' twice"),
    ({"alphabet": ["a", "b"], "merges": [["a", "b"], "ab"]}, r"merges\[1\] is 'ab', expected a pair of strings"),
    ({"alphabet": ["a", "b"], "merges": [["a", "b", "c"]]}, r"merges\[0\] is \['a', 'b', 'c'\], expected a pair"),
    ({"alphabet": ["a", "b"], "merges": [["ab", "b"]]},
     r"merges\[0\] is \['ab', 'b'\]: 'ab' is neither in alphabet nor made by an earlier merge"),
])
def test_malformed_plain_data_is_refused_by_field(plain, message):
    with pytest.raises(ValueError, match=message):
        BPE.from_plain(plain)


def test_bad_learning_arguments():
    with pytest.raises(ValueError, match="num_merges is -1, expected an integer >= 0"):
        BPE.learn(["a b"], -1)
    with pytest.raises(ValueError, match="min_frequency is 0, expected an integer >= 1"):
        BPE.learn(["a b"], 5, min_frequency=0)


# --------------------------------------------------------------------------- Vocab and prepare_pairs


def test_vocab_of_bpe_pieces_round_trips_and_unknown_characters_are_unk(case, tmp_path):
    vocab = Vocab.build(case["train"], level="bpe", merges=case["merges"], min_freq=2)
    assert vocab.bpe == case["bpe"] and vocab.itos == list(SPECIALS) + case["bpe"].pieces
    for text in case["held"][:200]:
        ids = vocab.encode(text, bos=True, eos=True)
        if UNK_ID not in ids:
            assert vocab.decode(ids) == vocab.to_text(ids) == normalize(text)
    text = "naïve ☃ " + case["held"][0]
    want = [vocab.stoi.get(p, UNK_ID) for p in case["bpe"].encode(text)]
    assert vocab.encode(text).tolist() == want and UNK_ID in want  # ☃ was never in training
    assert vocab.decode(vocab.encode("☃")) == UNK
    vocab.save(tmp_path / "v.json")
    again = Vocab.load(tmp_path / "v.json")
    assert again == vocab and again.encode(case["held"][1]).tolist() == vocab.encode(case["held"][1]).tolist()


def test_prepare_pairs_learns_each_language_on_train_only(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    monkeypatch.setattr(registry, "_built", {})
    pairs = [(f"lower{i % 3} newest", f"нижний{i % 4} новый") for i in range(40)]
    common = dict(summary="", source="", licence="", citation="", size="", split="")
    registry.register(registry.Dataset("tiny-bpe", kind="pairs", build=lambda paths: list(pairs), **common))
    src_vocab, tgt_vocab, (srcs, tgts), (valid_srcs, _) = prepare_pairs("tiny-bpe", level="bpe", merges=30)
    train = registry.load("tiny-bpe", "train")
    assert src_vocab == Vocab.build([s for s, _ in train], level="bpe", merges=30)
    assert tgt_vocab == Vocab.build([t for _, t in train], level="bpe", merges=30)
    assert "н" not in src_vocab and "n" not in tgt_vocab  # one BPE per language
    assert src_vocab.decode(srcs[0][::-1]) == train[0][0] and tgt_vocab.decode(tgts[0]) == train[0][1]
    assert len(valid_srcs) == len(registry.load("tiny-bpe", "valid"))
    with pytest.raises(ValueError, match="merges is None; level 'bpe' needs the number of merges"):
        prepare_pairs("tiny-bpe", level="bpe")
    _, _, (word_srcs, _), _ = prepare_pairs("tiny-bpe")  # the default is still words
    words = Vocab.build([s for s, _ in train], level="word")
    np.testing.assert_array_equal(word_srcs[0], words.encode(train[0][0])[::-1])


def test_on_real_help_text_bpe_leaves_fewer_unknowns_than_words():
    train, valid = help_pairs()
    for lang in (0, 1):
        words = Vocab.build([p[lang] for p in train], level="word", min_freq=2)
        pieces = Vocab.build([p[lang] for p in train], level="bpe", merges=8000, min_freq=2)
        unk_words = sum(int((words.encode(p[lang]) == UNK_ID).sum()) for p in valid)
        unk_pieces = sum(int((pieces.encode(p[lang]) == UNK_ID).sum()) for p in valid)
        assert unk_pieces < unk_words / 10, (lang, unk_pieces, unk_words)
