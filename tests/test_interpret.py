"""seqlib.interpret: the text features of the interpretable-cells view and the search for matching units."""

from __future__ import annotations

import numpy as np
import pytest

import torch

from seqlib.interpret import (bracket_depth, c_features, correlations, inside_quotes, lm_states, most_correlated_units,
                             position_in_line,
                             text_features)


def test_features_describe_the_text_after_each_character():
    text = 'a("b\'c")\nxy'
    np.testing.assert_array_equal(inside_quotes(text), [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(bracket_depth(text), [0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(position_in_line(text), [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2])
    assert set(text_features(text)) == {"inside quotes", "position in line", "bracket depth"}


def test_an_unmatched_closing_bracket_does_not_go_negative():
    np.testing.assert_array_equal(bracket_depth("))(]"), [0, 0, 1, 0])


def test_correlation_is_pearson_and_zero_for_constant_units():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 3))
    a[:, 2] = 1.5
    f = rng.normal(size=50)
    r = correlations(a, f)
    np.testing.assert_allclose(r[:2], [np.corrcoef(a[:, j], f)[0, 1] for j in range(2)])
    assert r[2] == 0.0


def test_the_search_finds_planted_units():
    rng = np.random.default_rng(1)
    text = ('x = f("a, b", [1, (2)])\n' * 20) + 'print("done")\n'
    feats = text_features(text)
    acts = np.tanh(rng.normal(size=(len(text), 64)))
    acts[:, 17] = np.tanh(2 * feats["inside quotes"] - 1) + 0.3 * rng.normal(size=len(text))
    acts[:, 40] = -0.05 * feats["position in line"] + 0.2 * rng.normal(size=len(text))
    found = most_correlated_units(acts, text, k=2)
    assert found["inside quotes"][0].unit == 17, found["inside quotes"]
    assert found["inside quotes"][0].r > 0.8
    assert found["position in line"][0].unit == 40 and found["position in line"][0].r < -0.8
    assert [m.unit for m in found["inside quotes"]][1] != 17 and len(found["bracket depth"]) == 2


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="expected \\(T, H\\) and \\(T,\\)"):
        correlations(np.zeros((5, 2)), np.zeros(4))


def test_lm_states_are_the_models_own_states():
    from seqlib.torch import RNNLM

    torch.manual_seed(0)
    model = RNNLM(5, 3, 4, num_layers=2, cell="lstm").eval()
    ids = np.array([1, 4, 2, 3, 0])
    c = lm_states(model, ids, which="c", layer=-1)
    h = lm_states(model, ids, which="h", layer=0)
    assert c.shape == (5, 4) and h.shape == (5, 4)
    _, (h_n, c_n) = model(torch.as_tensor(ids[None]))
    np.testing.assert_allclose(c[-1], torch.tanh(c_n[-1, 0]).detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(h[-1], h_n[0, 0].detach().numpy(), atol=1e-6)
    both = lm_states(model, ids, which="c", layer="all")
    assert both.shape == (5, 8)
    np.testing.assert_allclose(both[:, 4:], c, atol=1e-6)  # unit u is unit u % H of layer u // H
    with pytest.raises(ValueError, match="layer is 'top'"):
        lm_states(model, ids, layer="top")


def test_c_features_follow_comments_strings_and_if_conditions():
    text = 'if (a && (b)) /* it\'s */ x = "(\\""; // c\n#if X\n\telse if(y) z/2; ifdef(q); *//'
    f = c_features(text)
    marks = {k: "".join("1" if v else "." for v in f[k]) for k in ("inside comment", "inside string", "inside if condition")}
    # text:  if (a && (b)) /* it's */ x = "(\""; // cN#if XNTelse if(y) z/2; ifdef(q); *//
    assert marks["inside comment"] == "...............11111111..............111....................................1"
    assert marks["inside string"] == ".............................1111............................................"
    assert marks["inside if condition"] == "...111111111...........................................11...................."
    np.testing.assert_array_equal(f["comment or quote"], np.maximum(f["inside comment"], f["inside string"]))
    assert set(f) == {"comment or quote", "inside comment", "inside string", "inside if condition",
                      "bracket depth", "position in line"}


def test_c_features_ignore_an_apostrophe_in_a_comment_and_brackets_in_strings():
    f = c_features("/* don't */ if (s[0] == ')') return;")
    assert f["inside string"][:11].sum() == 0  # the apostrophe of don't is prose
    cond = "".join("1" if v else "." for v in f["inside if condition"])
    assert cond == "." * 15 + "1" * 12 + "." * 9  # the ')' in quotes does not end the condition


def test_the_search_finds_a_planted_comment_unit_in_c():
    rng = np.random.default_rng(2)
    text = ("int f(int a) {\n\t/* check the flag */\n\tif (a > 0 && b)\n\t\treturn 1;\n\treturn 0; // none\n}\n") * 15
    feats = c_features(text)
    acts = np.tanh(rng.normal(size=(len(text), 32)))
    acts[:, 5] = feats["comment or quote"] + 0.2 * rng.normal(size=len(text))
    acts[:, 9] = -feats["inside if condition"] + 0.2 * rng.normal(size=len(text))
    found = most_correlated_units(acts, feats, k=1)
    assert found["comment or quote"][0].unit == 5 and found["comment or quote"][0].r > 0.8
    assert found["inside if condition"][0].unit == 9 and found["inside if condition"][0].r < -0.8


def test_nearest_neighbours_rank_by_cosine_not_by_length():
    from seqlib.interpret import nearest_neighbours
    from seqlib.vocab import Vocab

    vocab = Vocab(["he", "she", "it", "cat", "dog", "zero"], level="word")  # after <pad> <unk> <bos> <eos>
    E = np.zeros((len(vocab), 3))
    E[vocab.stoi["he"]] = [1.0, 0.1, 0.0]
    E[vocab.stoi["she"]] = [10.0, 2.0, 0.0]   # long, but nearly the direction of "he"
    E[vocab.stoi["it"]] = [0.5, 0.5, 0.0]
    E[vocab.stoi["cat"]] = [0.0, 0.1, 1.0]
    E[vocab.stoi["dog"]] = [0.0, 0.0, 1.0]
    E[vocab.stoi["<unk>"]] = [1.0, 0.1, 0.0]  # a special: ignored by default
    found = nearest_neighbours(E, vocab, ["he", "dog"], k=3)
    assert [w for w, _ in found["he"]] == ["she", "it", "cat"], found["he"]
    assert found["he"][0][1] == pytest.approx(np.dot([1, 0.1], [10, 2]) / np.hypot(1, 0.1) / np.hypot(10, 2))
    assert found["dog"][0] == ("cat", pytest.approx(1 / np.hypot(0.1, 1)))
    assert dict(nearest_neighbours(E, vocab, ["dog"], k=5)["dog"])["zero"] == 0.0  # a zero row has no direction
    assert nearest_neighbours(E, vocab.itos, "he", k=1, ignore=())["he"][0][0] == "<unk>"
    weight = torch.as_tensor(E, dtype=torch.float32).requires_grad_()  # a Parameter works as it is
    assert nearest_neighbours(weight, vocab, ["it"], k=1)["it"][0][0] in ("he", "she")
    with pytest.raises(ValueError, match=r"E has shape \(10, 2, 1\), expected \(V, D\) with V = len\(vocab\) = 10"):
        nearest_neighbours(np.zeros((10, 2))[:, :, None], vocab, ["he"])
    with pytest.raises(ValueError, match="words has \\['thee'\\]"):
        nearest_neighbours(E, vocab, ["he", "thee"])
    with pytest.raises(ValueError, match="k is 0"):
        nearest_neighbours(E, vocab, ["he"], k=0)
