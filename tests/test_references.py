"""Reference generation: dinucleotide shuffles, shuffles, constant references, arrays."""
import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from kipoi_deeplift.core import references as R

LETTERS = "ACGT"


def encode(seqs):
    idx = {c: i for i, c in enumerate(LETTERS)}
    out = np.zeros((len(seqs), len(seqs[0]), 4), np.float32)
    for n, s in enumerate(seqs):
        for i, c in enumerate(s):
            if c in idx:
                out[n, i, idx[c]] = 1
    return out


def decode(onehot):
    return "".join("N" if row.sum() == 0 else LETTERS[int(row.argmax())] for row in onehot)


def dinucs(s):
    return Counter(s[i:i + 2] for i in range(len(s) - 1))


def test_dinuc_shuffle_preserves_dinucleotides_ends_and_ns():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), p=[.24, .24, .24, .24, .04], size=120))
            for _ in range(6)]
    shuf = R.dinuc_shuffle(encode(seqs), 10, seed=4)
    assert shuf.shape == (6, 10, 120, 4)
    for s, group in zip(seqs, shuf):
        outs = [decode(g) for g in group]
        for o in outs:
            assert dinucs(o) == dinucs(s)
            assert o[0] == s[0] and o[-1] == s[-1]
        assert len(set(outs)) > 5, "shuffles should differ from each other"
        assert any(o != s for o in outs)


def test_dinuc_shuffle_is_seeded_per_sequence_not_per_batch():
    x = encode(["".join(np.random.default_rng(i).choice(list(LETTERS), 50)) for i in range(5)])
    whole = R.dinuc_shuffle(x, 4, seed=7)
    np.testing.assert_array_equal(whole, R.dinuc_shuffle(x, 4, seed=7))
    part = R.dinuc_shuffle(x[3:], 4, seed=7, index=[3, 4])
    np.testing.assert_array_equal(whole[3:], part)
    assert not np.array_equal(whole, R.dinuc_shuffle(x, 4, seed=8))


def test_dinuc_shuffle_is_uniform_over_valid_sequences():
    """Altschul-Erickson: every sequence with the same dinucleotides and ends equally likely."""
    s = "ACAGTACGA"
    valid = {"".join(p) for p in set(itertools.permutations(s))
             if p[0] == s[0] and p[-1] == s[-1] and dinucs("".join(p)) == dinucs(s)}
    assert len(valid) > 3
    n = 4000
    got = Counter(decode(o) for o in R.dinuc_shuffle(encode([s]), n, seed=1)[0])
    assert set(got) == valid
    expected = n / len(valid)
    chi2 = sum((got[v] - expected) ** 2 / expected for v in valid)
    assert chi2 < stats.chi2.ppf(0.999, len(valid) - 1), (chi2, got)


def test_shuffle_preserves_composition():
    x = encode(["AACCGGTTAC", "GGGGGCCCAA"])
    out = R.shuffle(x, 6, seed=0)
    assert out.shape == (2, 6, 10, 4)
    np.testing.assert_array_equal(out.sum(axis=2), np.repeat(x.sum(axis=1)[:, None], 6, 1))


def test_constant_references():
    x = encode(["ACGT" * 5])
    np.testing.assert_allclose(R.make_references("gc:0.4", x, 3, 0, [0], "seq")[0, 0, 0],
                               [0.3, 0.2, 0.2, 0.3])
    assert R.make_references("uniform", x, 3, 0, [0], "seq").shape == (1, 1, 20, 4)
    assert np.all(R.make_references("zeros", x, 3, 0, [0], "seq") == 0)
    with pytest.raises(ValueError, match="unknown reference 'gc:1.5'"):
        R.validate_reference_name("gc:1.5")


def test_reference_arrays_and_their_shapes():
    x = encode(["ACGTACGT", "TTTTAAAA"])
    one = np.full((8, 4), 0.25, np.float32)
    assert R.make_references(one, x, 1, 0, [0, 1], "seq").shape == (2, 1, 8, 4)
    shared = np.zeros((3, 8, 4), np.float32)
    assert R.make_references(shared, x, 1, 0, [0, 1], "seq").shape == (2, 3, 8, 4)
    per = np.arange(5 * 2 * 8 * 4, dtype=np.float32).reshape(5, 2, 8, 4)
    np.testing.assert_array_equal(R.make_references(per, x, 1, 0, [3, 4], "seq"), per[3:5])
    with pytest.raises(ValueError, match=r"references for input 'seq' have shape \(7, 4\)"):
        R.make_references(np.zeros((7, 4)), x, 1, 0, [0, 1], "seq")


def test_dinuc_shuffle_refuses_non_dna():
    with pytest.raises(ValueError, match="not one-hot DNA"):
        R.make_references("dinuc-shuffle", np.full((2, 8, 4), 0.5, np.float32), 3, 0, [0, 1], "x")
