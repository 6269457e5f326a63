"""Reference generation: dinucleotide shuffles, shuffles, constant references, arrays, and the
forms references travel in to the pass."""
import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from kipoi_deeplift.core import references as R, shuffle as S

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


# -- the compiled shuffles (issue 22) -----------------------------------------------------------
def text(tokens):
    return "".join("ACGTNn"[t] for t in tokens)     # N: an all-zero row, n: an all-0.25 row


def test_every_shuffle_keeps_dinucleotides_and_ends_and_shuffles_differ():
    rng = np.random.default_rng(0)
    for length in (1, 2, 3, 4, 17, 300):
        seqs = ["".join(rng.choice(list("ACGTN"), p=[.3, .2, .2, .25, .05], size=length))
                for _ in range(5)]
        x = encode(seqs)
        x[0, length // 2] = 0.0                      # an all-zero row (IUPAC) as well
        x[1, length // 3] = 0.25                     # N as kipoiseq writes it
        tok = R.tokens(x)
        out = R.dinuc_shuffle_tokens(x, 12, seed=3)
        assert out.shape == (5, 12, length) and out.dtype == np.uint8
        for s, shuffles in zip(tok, out):
            for o in shuffles:
                assert dinucs(text(o)) == dinucs(text(s))
                assert o[0] == s[0] and o[-1] == s[-1]
            if length == 300:
                assert len({o.tobytes() for o in shuffles}) == 12, "shuffles should differ"
        # The one-hot form is the tokens' rows.
        np.testing.assert_array_equal(R.dinuc_shuffle(x, 12, seed=3), R.from_tokens(out))


@pytest.mark.parametrize("seq", ["ACAGTACGA", "AAACAAAGA", "ANACANAGA", "GATTACAGAT",
                                 "TTTTATTTT"])
def test_shuffles_are_uniform_over_every_arrangement(seq):
    """Enumerate every sequence with the same dinucleotides and ends (Altschul-Erickson's
    space) and check the shuffles hit each equally often (chi-square, p > 0.001)."""
    valid = sorted({"".join(p) for p in set(itertools.permutations(seq))
                    if p[0] == seq[0] and p[-1] == seq[-1] and dinucs("".join(p)) == dinucs(seq)})
    assert len(valid) >= 3, valid
    n = 400 * len(valid)
    got = Counter(text(o) for o in R.dinuc_shuffle_tokens(encode([seq]), n, seed=11)[0])
    assert set(got) == set(valid)
    observed = [got[v] for v in valid]
    assert stats.chisquare(observed).pvalue > 1e-3, (observed, valid)


def test_uniform_across_many_sequences_too():
    """Seeds differ per sequence: the same short sequence at 3,000 indices (one shuffle
    each) covers its arrangements uniformly as well."""
    seq = "ACAGTACGA"
    x = np.repeat(encode([seq]), 3000, axis=0)
    got = Counter(text(o[0]) for o in R.dinuc_shuffle_tokens(x, 1, seed=5))
    assert stats.chisquare(list(got.values())).pvalue > 1e-3, got


def test_same_seed_same_bits_whatever_the_batch():
    rng = np.random.default_rng(1)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (9, 200))]
    whole = R.dinuc_shuffle_tokens(x, 5, seed=7)
    np.testing.assert_array_equal(whole, R.dinuc_shuffle_tokens(x, 5, seed=7))
    for a, b in ((0, 4), (4, 9), (3, 5)):
        np.testing.assert_array_equal(
            whole[a:b], R.dinuc_shuffle_tokens(x[a:b], 5, seed=7, index=range(a, b)))
    assert not np.array_equal(whole, R.dinuc_shuffle_tokens(x, 5, seed=8))
    # The first K shuffles do not depend on how many more are drawn after them.
    assert R.dinuc_shuffle_tokens(x, 7, seed=7)[:, :5].shape == whole.shape


def test_the_stream_is_pinned():
    """The random stream is part of the file format (``reference_stream``): a change to it
    must be deliberate. These bits are xoshiro256** seeded by splitmix64 from (seed, index)."""
    x = encode(["ACGTTGCAACGGTACA"])
    got = text(R.dinuc_shuffle_tokens(x, 1, seed=0)[0, 0])
    assert dinucs(got) == dinucs("ACGTTGCAACGGTACA")
    assert S.STREAM == 2
    assert got == PINNED, got


PINNED = "ACAACGTGCACGGTTA"


def test_tokens_refuse_what_is_not_one_hot():
    x = encode(["ACGT"])
    x[0, 1] = [0.5, 0.5, 0, 0]
    with pytest.raises(ValueError, match="not one-hot DNA"):
        R.tokens(x)
    assert not R.is_one_hot(x)
    x[0, 1] = [1, -1, 1, 0]                         # sums to one, still not one base
    assert not R.is_one_hot(x)


def test_position_shuffles_are_uniform_permutations():
    perms = np.empty((1, 6000, 3), np.int32)
    S.permutations(6000, 3, 0, np.array([4], np.int64), perms)
    got = Counter(tuple(p) for p in perms[0])
    assert len(got) == 6 and stats.chisquare(list(got.values())).pvalue > 1e-3, got


def test_reference_forms():
    x = encode(["ACGTACGTAA", "TTTTAAAACG"])
    tok = R.batch_references("dinuc-shuffle", x, 3, 0, [5, 6], "seq")
    assert tok.form == "tokens" and tok.array.shape == (6, 10) and tok.array.dtype == np.uint8
    np.testing.assert_array_equal(tok.per_sequence(2), R.dinuc_shuffle(x, 3, 0, [5, 6]))
    const = R.batch_references("zeros", x, 3, 0, [0, 1], "seq")
    assert const.form == "shared" and const.array.shape == (1, 10, 4)
    assert const.repeated(3).array.shape == (1, 10, 4)
    per = np.arange(4 * 2 * 10 * 4, dtype=np.float32).reshape(4, 2, 10, 4) % 2
    rows = R.batch_references(per, x, 1, 0, [2, 3], "seq")
    assert rows.form == "rows" and rows.k == 2
    np.testing.assert_array_equal(rows.per_sequence(2), per[2:4])
    padded = tok.padded(2, 4)
    assert padded.array.shape == (12, 10)
    np.testing.assert_array_equal(padded.array[6:9], tok.array[:3])
