"""Motifs a model learned: TF-MoDISco (modisco-lite) on a score file's hypothetical
contributions, each pattern matched against a motif database with TOMTOM (memelite's, no
external binary), and which patterns each sequence uses.

Data flow: score file -> (one-hot, hypothetical contributions) -> TF-MoDISco patterns and
seqlets -> each pattern's share of the contribution and database matches -> files in the
output directory:

    modisco.h5            modisco-lite's results (``modisco report``/``meme`` read it)
    patterns.meme         each pattern's base frequencies (MEME format, for other tools)
    patterns.tsv          one row per pattern, by share of the contribution (largest first):
                          major/minor, share, seqlets, consensus, the best database candidate
                          with its p and q values, and the matches at q <= max_q
    summary.txt           what the command prints: the settings (max q, min share), the
                          major patterns and, apart, the minor ones
    patterns.png          every pattern's logo on one contribution scale, the major ones
                          first and the minor ones after, smaller, under their own heading
    usage.tsv             one row per sequence and pattern: seqlets and their summed
                          contribution, and its share of the sequence's delta
    seqlets.tsv           every seqlet: row, pattern, start, end (0-based, in the sequence as
                          the model read it), reverse (1 where it matches the pattern's
                          reverse complement), and chr, genome_start, genome_end (0-based,
                          along the genome's + strand; empty without ranges);
                          ``kipoi-deeplift sites --motifs`` and ``variants --motifs`` read it
    logos/<pattern>.png   each pattern's contribution weight matrix, labelled with its share
                          and its match (q value, or "no significant match"); every logo has
                          the same y scale, so that a pattern at a tenth of another's scale
                          looks a tenth as tall; a minor pattern's logo is drawn smaller

A pattern's share of the contribution is the sum of |contribution| (the score file's, per
base) over the bases its seqlets cover, over the same sum for all patterns: what TF-MoDISco's
seqlet count alone hides (a noise pattern of many weak seqlets ranks above a motif of fewer,
strong ones by count).

The patterns and their matches: :mod:`kipoi_deeplift.analysis.motif_patterns`; their logos:
:mod:`kipoi_deeplift.analysis.motif_figures`; running TF-MoDISco and writing the files: here.
"""
from __future__ import annotations

import csv
import os
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import Notice, UserError
from ..io import scorefile as sf
from ..io.coordinates import sequence_start
from ..io.derived import extraction_failed, modisco_settings, modisco_shortfall
from ..io.modisco import modisco_arrays
from ..io.staging import Staged
# The names below are this module's too: callers and tests import (and patch) them here, and
# motifs() looks run_modisco and _logo up here, so a patched one is the one used.
from .motif_figures import MINOR_SCALE, logo as _logo, logo_scale as _logo_scale  # noqa: F401
from .motif_figures import overview as _overview, pattern_title as _title
from .motif_patterns import (MAX_Q, MIN_INFORMATION, MIN_SHARE, TRIM_FRACTION,  # noqa: F401
                             Pattern, by_share, contribution_shares, load_database, match,
                             patterns_from_modisco, percent as _percent, summary_lines, usage)

#: modisco-lite's command-line settings (``modisco motifs``); the seqlet sizes are replaced
#: by :func:`kipoi_deeplift.io.derived.modisco_settings` for the sequence length.
MODISCO_SETTINGS = {"sliding_window_size": 20, "flank_size": 5, "trim_to_window_size": 30,
                    "initial_flank_to_add": 10, "final_flank_to_add": 0,
                    "target_seqlet_fdr": 0.05, "n_leiden_runs": 2}



def _window(length: int, window: int | None) -> tuple[int, int]:
    """The central window TF-MoDISco reads (as modisco-lite's CLI crops it): (start, end)."""
    w = min(modisco_settings(length)["window"] if window is None else int(window),
            length - length % 2)
    centre = length // 2
    return centre - w // 2, centre + w // 2


def run_modisco(ohe: np.ndarray, hyp: np.ndarray, max_seqlets: int = 2000,
                window: int | None = None):
    """TF-MoDISco on one-hot sequences and hypothetical contributions.

    Parameters
    ----------
    ohe, hyp : numpy.ndarray, shape=(N, 4, L)
        As ``modisco motifs`` reads them.
    max_seqlets : int, optional
        Seqlets per metacluster, at most. Default 2000.
    window : int, optional
        The central bases read (default: as :func:`~kipoi_deeplift.io.derived.modisco_settings`).

    Returns
    -------
    positive, negative : list
        modisco-lite's patterns of each sign.
    window : tuple of (int, int)
        (start, end) of the window read.
    """
    try:
        import modiscolite
    except ImportError as e:
        raise UserError("motifs needs modisco-lite: pip install -e '.[motifs]' in the checkout (or pip install modisco-lite)") \
            from e
    start, end = _window(ohe.shape[2], window)
    one_hot = np.ascontiguousarray(ohe[:, :, start:end].transpose(0, 2, 1), dtype=np.float32)
    hypothetical = np.ascontiguousarray(hyp[:, :, start:end].transpose(0, 2, 1),
                                        dtype=np.float32)
    settings = {**MODISCO_SETTINGS, **modisco_settings(ohe.shape[2])}
    settings.pop("window")
    pos, neg = modiscolite.tfmodisco.TFMoDISco(
        one_hot=one_hot, hypothetical_contribs=hypothetical,
        max_seqlets_per_metacluster=int(max_seqlets), **settings)
    return pos or [], neg or [], (start, end)


def _write_tsv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, delimiter="\t", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})


#: ``group``: major or minor (:data:`MIN_SHARE`); ``share``: of the contribution;
#: ``contribution``: sum of |contribution| over its seqlets' bases; ``match``: significant,
#: no significant match, not matched or empty (no database); ``best_*``: the nearest
#: database motif whatever its q; ``match_k``/``p_k``/``q_k``: the k-th best match at
#: q <= max q (empty otherwise, so that a reader of ``match_1`` never meets a chance one).
PATTERN_COLUMNS = ("pattern", "group", "share", "contribution", "seqlets", "width",
                   "bits_per_position", "consensus", "match", "best_match", "best_p",
                   "best_q", "match_1", "p_1", "q_1", "match_2", "p_2", "q_2", "match_3",
                   "p_3", "q_3", "logo")
#: seqlets.tsv: ``chr``, ``genome_start``, ``genome_end`` place each seqlet in the genome
#: (0-based, half-open; empty where the score file has no ranges), so that ``variants
#: --motifs`` can name the pattern at a variant (:mod:`.variant_motifs`).
SEQLET_COLUMNS = ("row", "pattern", "start", "end", "reverse", "chr", "genome_start",
                  "genome_end")
USAGE_COLUMNS = ("row", "chr", "start", "end", "name", "pattern", "seqlets", "contribution",
                 "share_of_delta")


def check_thresholds(max_q: float, min_share: float) -> None:
    """One-line errors (UserError) for ``--max-q`` and ``--min-share`` out of range.

    Parameters
    ----------
    max_q : float
        0 < q <= 1.
    min_share : float
        0 <= share < 1.
    """
    def said(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else repr(v)

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not (number(max_q) and 0 < max_q <= 1):
        raise UserError(f"--max-q {said(max_q)}: give a q-value above 0 and at most 1 "
                        f"(default {MAX_Q})")
    if not (number(min_share) and 0 <= min_share < 1):
        raise UserError(f"--min-share {said(min_share)}: give a share from 0 to below 1 "
                        f"(default {MIN_SHARE}; 0 makes every pattern major)")


def _find_patterns(ohe: np.ndarray, hyp: np.ndarray, task: str, max_seqlets: int,
                   window: int | None) -> tuple[list, list, int]:
    """TF-MoDISco's (positive, negative) patterns and the first base of the window it read;
    where it finds none, a :class:`~kipoi_deeplift.errors.Notice` says why."""
    # Too few seqlets: modisco-lite would return nothing without a word (or stop inside its
    # seqlet extraction with a ZeroDivisionError): said in one line, and not run.
    why = modisco_shortfall(ohe, hyp, window)
    pos, neg, start = [], [], _window(ohe.shape[2], window)[0]
    if not why:
        try:
            pos, neg, (start, _) = run_modisco(ohe, hyp, max_seqlets, window)
        except ZeroDivisionError as e:      # in its seqlet extraction (see extraction_failed)
            why = extraction_failed(int(ohe.shape[0]), e)
        if not why and not pos and not neg:
            why = ("its seqlets formed no cluster that passed modisco-lite's filters (at "
                   "least 20 seqlets with an informative core); more sequences may help")
    if why:
        warnings.warn(f"TF-MoDISco finds no pattern in task {task}: {why}", Notice,
                      stacklevel=3)
    return pos, neg, start


def _pattern_row(pt: Pattern, is_minor: bool, max_q: float) -> dict:
    """A pattern's row of patterns.tsv (:data:`PATTERN_COLUMNS`)."""
    best = pt.matches[0] if pt.matches else ("", "", "")
    row = {"pattern": pt.name, "group": "minor" if is_minor else "major",
           "share": pt.share, "contribution": pt.contribution,
           "seqlets": len(pt.seqlets), "width": len(pt.ppm),
           "bits_per_position": pt.information, "consensus": pt.consensus,
           "match": pt.match_status(max_q), "best_match": best[0], "best_p": best[1],
           "best_q": best[2], "logo": f"logos/{pt.name}.png"}
    for j, (name, p, q) in enumerate(pt.significant(max_q), 1):
        row.update({f"match_{j}": name, f"p_{j}": p, f"q_{j}": q})
    return row


def _write_outputs(out: Path, found: dict, about: str, max_q: float, min_share: float
                   ) -> list[str]:
    """Every file of the output directory (this module's docstring), renamed into place
    together; ``found``: what :func:`motifs` returns, with modisco-lite's ``pos``/``neg``
    patterns and the ``length`` of the window it read. Returns the paths written."""
    import modiscolite

    patterns, major, minor = found["patterns"], found["major"], found["minor"]
    staged = Staged()
    try:
        results = staged.path(out / "modisco.h5")
        # h5py locks the files it writes, and the staged name is already locked by this
        # process: written under a plain temporary name, then moved onto the staged one.
        with tempfile.TemporaryDirectory(dir=out) as scratch:
            plain = Path(scratch) / "modisco.h5"
            modiscolite.io.save_hdf5(str(plain), found["pos"], found["neg"], found["length"])
            os.replace(plain, results)
        _write_meme(staged.path(out / "patterns.meme"), patterns)
        ylim = _logo_scale(patterns)
        rows = []
        minor_names = {pt.name for pt in minor}
        for pt in patterns:
            is_minor = pt.name in minor_names
            _logo(staged.path(out / "logos" / f"{pt.name}.png"), pt,
                  f"{_title(pt, max_q, min_share, is_minor, sep=chr(10))}\n{about}",
                  ylim, MINOR_SCALE if is_minor else 1.0)
            rows.append(_pattern_row(pt, is_minor, max_q))
        _overview(staged.path(out / "patterns.png"), major, minor,
                  f"TF-MoDISco patterns, {about}\none contribution scale for every logo; a "
                  f"database match counts at q <= {max_q:g}", max_q, min_share, ylim)
        _write_tsv(staged.path(out / "patterns.tsv"), rows, PATTERN_COLUMNS)
        staged.path(out / "summary.txt").write_text("\n".join(found["summary"]) + "\n")
        _write_tsv(staged.path(out / "usage.tsv"), found["usage"], USAGE_COLUMNS)
        place = found["place"]
        _write_tsv(staged.path(out / "seqlets.tsv"),
                   [{"row": r, "pattern": pt.name, "start": a, "end": b, "reverse": int(rev),
                     **place(r, a, b)} for pt in patterns for r, a, b, rev in pt.seqlets],
                   SEQLET_COLUMNS)
        return [str(p) for p in staged.commit()]
    except BaseException:
        staged.discard()
        raise


def _genome_places(ranges: dict, flip, length: int):
    """A function (row, start, end) -> seqlets.tsv's genome columns: [start, end) of the
    sequence as the model read it (length L), placed along the genome's + strand."""
    if "start" not in ranges or "end" not in ranges:
        return lambda r, a, b: {"chr": "", "genome_start": "", "genome_end": ""}
    g0 = sequence_start(ranges["start"].astype(np.int64), ranges["end"].astype(np.int64),
                        length)

    def place(r: int, a: int, b: int) -> dict:
        lo, hi = (length - b, length - a) if flip[r] else (a, b)
        return {"chr": ranges["chr"][r], "genome_start": int(g0[r] + lo),
                "genome_end": int(g0[r] + hi)}
    return place


def motifs(h5_path: str, out_dir: str, task: str | None = None, input_name: str | None = None,
           database: str | None = None, max_seqlets: int = 2000,
           window: int | None = None, max_q: float = MAX_Q,
           min_share: float = MIN_SHARE) -> dict:
    """Run TF-MoDISco on one task of a score file and write the files of this module's docstring.

    The file must hold hypothetical contributions (``score --hypothetical``). Where TF-MoDISco
    finds no pattern, a :class:`~kipoi_deeplift.errors.Notice` says why (too few seqlets for
    modisco-lite, or none that clustered).

    Parameters
    ----------
    h5_path : str
        The score file.
    out_dir : str
        Where the files are written.
    task, input_name : str, optional
        Default: the file's first task, its DNA input.
    database : str, optional
        Each pattern is matched against it (see :func:`load_database`).
    max_seqlets : int, optional
        Seqlets per metacluster, at most. Default 2000.
    window : int, optional
        The central bases TF-MoDISco reads.
    max_q : float, optional
        A match counts at q <= ``max_q``. Default :data:`MAX_Q`.
    min_share : float, optional
        Patterns below this share of the contribution are minor. Default :data:`MIN_SHARE`.

    Returns
    -------
    dict
        ``{"patterns": [Pattern] (by share), "major": [...], "minor": [...], "usage": [dict],
        "files": [paths], "task": str, "summary": [lines], "max_q": float, "min_share":
        float}``.
    """
    check_thresholds(max_q, min_share)
    with sf.ScoreFile(h5_path) as h5:
        input_name, task = h5.pick(input_name, task)
        if sf.hyp_contrib(input_name, task) not in h5:
            raise UserError(f"{h5_path} has no hypothetical contributions, which TF-MoDISco "
                            "reads: score again with --hypothetical")
        ohe, hyp = modisco_arrays(h5, input_name, task)
        contrib = h5[sf.contrib(input_name, task)][:].astype(float)
        delta = h5[sf.delta(task)][:].astype(float)
        ranges = h5.ranges(("chr", "start", "end", "id")) if h5.has_ranges() else {}
        place = _genome_places(ranges, h5.reversed_rows() if ranges else None, ohe.shape[2])
        model, rule = h5.attrs.get("model", ""), h5.attrs.get("rule", "")
    pos, neg, start = _find_patterns(ohe, hyp, task, max_seqlets, window)
    patterns = patterns_from_modisco(pos, "pos", start) + patterns_from_modisco(neg, "neg",
                                                                                start)
    if database:
        match(patterns, load_database(database))
    contribution_shares(patterns, contrib)
    major, minor = by_share(patterns, min_share)
    patterns = major + minor
    summary = summary_lines(task, int(ohe.shape[0]), major, minor, max_q, min_share,
                            database)
    used = usage(patterns, contrib, delta)
    for r in used:
        i = r["row"]
        r.update({"chr": ranges["chr"][i] if "chr" in ranges else "",
                  "start": int(ranges["start"][i]) if "start" in ranges else "",
                  "end": int(ranges["end"][i]) if "end" in ranges else "",
                  "name": ranges["id"][i] if "id" in ranges else ""})
    found = {"patterns": patterns, "major": major, "minor": minor, "usage": used,
             "task": task, "summary": summary, "max_q": max_q, "min_share": min_share}
    files = _write_outputs(Path(out_dir), {**found, "pos": pos, "neg": neg, "place": place,
                                           "length": int(ohe.shape[2] - 2 * start)},
                           f"model {sf.model_label(model)}, task {task}, {rule}", max_q,
                           min_share)
    return {**found, "files": files}


def _write_meme(path: Path, patterns: list[Pattern]) -> None:
    """Each pattern's base frequencies in MEME's minimal format."""
    with open(path, "w") as f:
        f.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
                "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
        for pt in patterns:
            f.write(f"MOTIF {pt.name}\nletter-probability matrix: alength= 4 w= {len(pt.ppm)} "
                    f"nsites= {len(pt.seqlets)} E= 0\n")
            for row in pt.ppm:
                f.write(" ".join(f"{v:.6f}" for v in row) + "\n")
            f.write("\n")
