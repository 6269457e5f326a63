"""One top-window finder (io/coordinates.py) for `score --sites`/`--summary`, compare and the
report, checked against a plain loop; the relative error and the resume check's collate; the
old import paths of the modules split out of io/writers.py, motifs.py and report.py."""
from __future__ import annotations

import numpy as np
import pytest

from kipoi_deeplift.io.coordinates import top_window, window_sums


def brute_force(x: np.ndarray, width: int, absolute: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Every window inside each row summed by a loop in float64; the first maximum wins."""
    x = np.asarray(x, dtype=np.float64)
    tracks = x[:, None, :] if x.ndim == 2 else x
    n, _, length = tracks.shape
    width = min(width, length)
    starts, scores = np.zeros(n, np.int64), np.zeros(n)
    for i in range(n):
        best, best_score = None, None
        for s in range(length - width + 1):
            score = 0.0
            for t in range(tracks.shape[1]):
                total = 0.0
                for j in range(s, s + width):
                    total += tracks[i, t, j]
                score += abs(total) if absolute else total
            if best_score is None or score > best_score:
                best, best_score = s, score
        starts[i], scores[i] = best, best_score
    return starts, scores


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("width", [1, 3, 8, 10, 23, 40])
def test_top_window_is_the_brute_force_loop(width, absolute):
    # Small integers: every sum is exact, so ties are real ties in both computations.
    rng = np.random.default_rng(width)
    x = rng.integers(-3, 4, size=(40, 23)).astype(np.float32)
    starts, scores = top_window(x, width, absolute=absolute)
    want_starts, want_scores = brute_force(x, width, absolute)
    np.testing.assert_array_equal(starts, want_starts)
    np.testing.assert_array_equal(scores, want_scores)
    assert starts.dtype == np.int64 and scores.dtype == np.float64


def test_real_valued_scores_match_the_loop_to_rounding():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 200))
    starts, scores = top_window(x, 10)
    want_starts, want_scores = brute_force(x, 10)
    np.testing.assert_array_equal(starts, want_starts)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-12)


def test_ties_go_to_the_lowest_start_and_edges_count():
    x = np.array([[0, 0, 0, 0, 0, 0],         # all tie: the first window
                  [5, 0, 0, 0, 0, 5],         # first and last window tie: the first
                  [0, 0, 0, 0, 1, 9],         # the last window (at the right edge)
                  [9, -1, 0, 0, 0, 0],        # the first window (at the left edge)
                  [0, -2, -2, 0, 0, 1]], float)
    starts, scores = top_window(x, 2)
    assert starts.tolist() == [0, 0, 4, 0, 4]
    assert scores.tolist() == [0, 5, 10, 8, 1]
    # |sum|: the strongly negative window wins over the weak positive one.
    starts, scores = top_window(x[4:], 2, absolute=True)
    assert starts.tolist() == [1] and scores.tolist() == [4]


def test_absolute_ranks_by_the_magnitude_of_the_sum_not_the_sum_of_magnitudes():
    x = np.array([[3, -3, 1, 2]], float)      # |sum|: 0, 2, 3; sum of |.|: 6, 4, 3
    assert top_window(x, 2, absolute=True)[0].tolist() == [2]


def test_tracks_add_their_window_scores():
    rng = np.random.default_rng(2)
    x = rng.integers(-4, 5, size=(12, 3, 15)).astype(float)
    for absolute in (False, True):
        starts, scores = top_window(x, 4, absolute=absolute)
        want_starts, want_scores = brute_force(x, 4, absolute)
        np.testing.assert_array_equal(starts, want_starts)
        np.testing.assert_array_equal(scores, want_scores)


def test_width_above_the_length_is_the_whole_row_and_width_zero_fails():
    x = np.array([[1.0, 2.0, -4.0]])
    starts, scores = top_window(x, 10)
    assert starts.tolist() == [0] and scores.tolist() == [-1.0]
    assert window_sums(x, 10).shape == (1, 1)
    with pytest.raises(ValueError, match="width"):
        top_window(x, 0)
    with pytest.raises(ValueError, match="shape"):
        top_window(x[0], 2)


def test_compare_finds_the_window_np_convolve_found():
    """compare's top_site columns are what its former np.convolve('valid') argmax gave."""
    from kipoi_deeplift.analysis.compare import top_site, top_window as one_row

    assert top_site is one_row
    rng = np.random.default_rng(3)
    for row in rng.normal(size=(50, 64)):
        assert one_row(row, 8) == int(np.convolve(row, np.ones(8), "valid").argmax())
    short = rng.normal(size=5)                # shorter than the window: np.convolve swaps
    assert one_row(short, 8) == int(np.convolve(short, np.ones(8), "valid").argmax()) == 0


class _Scores:
    def __init__(self, per_base: np.ndarray):
        self.per_base = per_base[None]


def _old_shown_window(files, i: int, width: int) -> tuple[int, int]:
    """report.shown_window before the one finder: |np.convolve 'same'| (windows hanging off
    the ends allowed)."""
    length = files[0].per_base.shape[1]
    strength = sum(np.abs(np.convolve(f.per_base[i], np.ones(8), "same")) for f in files)
    centre = int(np.argmax(strength))
    lo = max(0, min(centre - width // 2, length - width))
    return lo, lo + width


def test_report_window_is_the_old_one_where_the_strongest_window_lies_inside():
    from kipoi_deeplift.analysis.report import shown_window

    rng = np.random.default_rng(4)
    for _ in range(30):
        files = [_Scores(rng.normal(size=400)) for _ in range(2)]
        for f in files:      # a strong stretch away from the ends
            f.per_base[0, 150:158] += 5
        assert shown_window(files, 0, 100) == _old_shown_window(files, 0, 100)


def test_report_window_no_longer_centres_on_a_window_hanging_off_the_end():
    """'same' convolution summed windows of 4-7 bases at the ends: here [0, 4) sums to 20,
    while every whole 8 bp window sums to 0 but the planted one at 100-108 (8)."""
    from kipoi_deeplift.analysis.report import shown_window

    x = np.where(np.arange(400) // 4 % 2 == 0, 5.0, -5.0)     # blocks of 4: +5, -5, ...
    x[100:108] += 1.0
    files = [_Scores(x)]
    assert _old_shown_window(files, 0, 50) == (0, 50)
    assert shown_window(files, 0, 50) == (79, 129)      # centred on base 104


def test_relative_error_is_absolute_below_one_and_relative_above():
    from kipoi_deeplift.io.scorefile import relative_error

    err = np.array([0.1, 0.1, 0.1], np.float32)
    delta = np.array([0.5, -1.0, 10.0], np.float32)
    np.testing.assert_allclose(relative_error(err, delta), [0.1, 0.1, 0.01], rtol=1e-6)
    assert relative_error(err, delta).dtype == np.float32


def test_resume_check_collates_with_the_callable_it_is_given(tmp_path):
    import h5py

    from kipoi_deeplift.errors import UserError
    from kipoi_deeplift.io import resume

    path = tmp_path / "partial.h5"
    stored = np.arange(12, dtype=np.float32).reshape(3, 4)
    with h5py.File(path, "w") as f:
        f["inputs/seq"] = stored
    partial = resume.Partial(path, 3, {})
    dataset = [{"inputs": {"x": row}} for row in stored]
    seen = []

    def collate(items):
        seen.append(len(items))
        return {"inputs": {k: np.stack([it["inputs"][k] for it in items])
                           for k in items[0]["inputs"]}}

    resume.check_data(partial, dataset, lambda x: x, {"x": "seq"}, collate=collate)
    assert seen == [1, 1, 1]
    dataset[2] = {"inputs": {"x": stored[2] + 1}}
    with pytest.raises(UserError, match="sequence 2 differs"):
        resume.check_data(partial, dataset, lambda x: x, {"x": "seq"}, collate=collate)


def test_old_import_paths_give_the_objects_where_they_live_now():
    from kipoi_deeplift.analysis import (motif_figures, motif_patterns, motifs, report,
                                         report_html, report_intervals)
    from kipoi_deeplift.io import h5stream, modisco, staging, tables, tracks, writers

    for module, names in ((staging, ["Staged", "check_writable", "stale_temps", "staged_file",
                                     "reserved", "check_room", "MARGIN", "TMP_SUFFIX"]),
                          (h5stream, ["H5Writer", "_chunk_rows", "STR", "COMPRESSED"]),
                          (tracks, ["write_bigwig", "write_bedgraph", "chrom_sizes_from"]),
                          (modisco, ["modisco_arrays", "write_npz"])):
        for name in names:
            assert getattr(writers, name) is getattr(module, name), name
    assert motifs.Pattern is motif_patterns.Pattern
    assert motifs.by_share is motif_patterns.by_share
    assert motifs._logo is motif_figures.logo
    assert motifs._logo_scale is motif_figures.logo_scale
    assert report._motifs_html is report_html.motifs_html
    assert report.choose_intervals is report_intervals.choose_intervals
    assert tables.write_sites is tables.write_top_windows
    assert tables.SITE_WIDTH == tables.WINDOW_WIDTH == 10
