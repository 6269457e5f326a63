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
                          reverse complement); ``kipoi-deeplift sites --motifs`` reads it
    logos/<pattern>.png   each pattern's contribution weight matrix, labelled with its share
                          and its match (q value, or "no significant match"); every logo has
                          the same y scale, so that a pattern at a tenth of another's scale
                          looks a tenth as tall; a minor pattern's logo is drawn smaller

A pattern's share of the contribution is the sum of |contribution| (the score file's, per
base) over the bases its seqlets cover, over the same sum for all patterns: what TF-MoDISco's
seqlet count alone hides (a noise pattern of many weak seqlets ranks above a motif of fewer,
strong ones by count).
"""
from __future__ import annotations

import csv
import math
import os
import tempfile
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import Notice, UserError
from ..io import scorefile as sf
from ..io.derived import extraction_failed, modisco_settings, modisco_shortfall
from ..io.writers import Staged, modisco_arrays
from .plots import draw_logo, fit_title

#: modisco-lite's command-line settings (``modisco motifs``); the seqlet sizes are replaced
#: by :func:`kipoi_deeplift.io.derived.modisco_settings` for the sequence length.
MODISCO_SETTINGS = {"sliding_window_size": 20, "flank_size": 5, "trim_to_window_size": 30,
                    "initial_flank_to_add": 10, "final_flank_to_add": 0,
                    "target_seqlet_fdr": 0.05, "n_leiden_runs": 2}


#: A database match counts (is named a match) only at this Benjamini-Hochberg q-value or
#: below (``--max-q``); above it the pattern is reported with "no significant match" and its
#: nearest database motif, with p and q, as a candidate.
MAX_Q = 0.05

#: Patterns whose seqlets carry less than this share of the contribution of all patterns'
#: seqlets are minor (``--min-share``): listed and drawn apart, after the others. 10%, from
#: the planted-GATA simulation of the tests (examples/planted_sites.py; 8 runs over genomes,
#: reference seeds and a weak planted E-box): the 6 noise patterns TF-MoDISco returned
#: (0.1-0.4 bits per position, not matched) carried 3.3-6.1% each, so 5% would leave some
#: among the major ones; planted motifs carried 32% (an E-box at a third of GATA's weight)
#: and 13% plus 8.5% (at a fifth, split by TF-MoDISco in two patterns: the smaller one is
#: listed as minor). A minor pattern is set apart, not dropped.
MIN_SHARE = 0.10


@dataclass
class Pattern:
    """One TF-MoDISco pattern: ``name`` (``pos_0``, ``neg_1``...), ``ppm`` (W, 4) base
    frequencies and ``cwm`` (W, 4) contribution weight matrix, both trimmed to the
    informative span (:data:`TRIM_FRACTION`), its seqlets (untrimmed) as (row, start, end,
    reverse) in the sequences as the model read them, and its database matches
    (name, p-value, q-value), best first (``searched``: a database was given).
    ``contribution``: the sum of |contribution| over the bases its seqlets cover; ``share``:
    that over the sum for all patterns (:func:`contribution_shares`)."""

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    seqlets: list
    matches: list = field(default_factory=list)
    searched: bool = False
    contribution: float = 0.0
    share: float = math.nan

    @property
    def information(self) -> float:
        """Mean information content of the (trimmed) pattern, bits per position (0 to 2)."""
        q = np.clip(self.ppm, 1e-9, 1.0)
        q = q / q.sum(1, keepdims=True)
        return float(np.mean(2.0 + (q * np.log2(q)).sum(1)))

    @property
    def consensus(self) -> str:
        """The most frequent base at each position where the pattern is informative
        (lower case where no base reaches half)."""
        out = []
        for row in self.ppm:
            b = "ACGT"[int(np.argmax(row))]
            out.append(b if row.max() >= 0.5 else b.lower())
        return "".join(out)

    def significant(self, max_q: float = MAX_Q) -> list:
        """The matches at q <= ``max_q`` (a prefix of ``matches``: q grows with p)."""
        return [m for m in self.matches if m[2] <= max_q]

    def match_status(self, max_q: float = MAX_Q) -> str:
        """``significant``, ``no significant match``, ``not matched`` (too little
        information to match, :data:`MIN_INFORMATION`) or ``""`` (no database)."""
        if not self.searched:
            return ""
        if not self.matches:
            return "not matched"
        return "significant" if self.significant(max_q) else "no significant match"

    def match_text(self, max_q: float = MAX_Q) -> str:
        """The match as every output says it: ``NAME (p P, q Q)`` at q <= ``max_q``, else
        ``no significant match (best NAME, p P, q Q > max_q)``, or why it was not matched."""
        status = self.match_status(max_q)
        if status == "not matched":
            return (f"not matched ({self.information:.2f} bits/position < "
                    f"{MIN_INFORMATION})")
        if not status:
            return ""
        name, p, q = self.matches[0]
        if status == "significant":
            return f"{name} (p {p:.2g}, q {q:.2g})"
        return f"no significant match (best {name}, p {p:.2g}, q {q:.2g} > {max_q:g})"


def _window(length: int, window: int | None) -> tuple[int, int]:
    """The central window TF-MoDISco reads (as modisco-lite's CLI crops it): (start, end)."""
    w = min(modisco_settings(length)["window"] if window is None else int(window),
            length - length % 2)
    centre = length // 2
    return centre - w // 2, centre + w // 2


def run_modisco(ohe: np.ndarray, hyp: np.ndarray, max_seqlets: int = 2000,
                window: int | None = None):
    """TF-MoDISco on (N, 4, L) one-hot and hypothetical contributions (as ``modisco motifs``
    reads them); returns (positive patterns, negative patterns, (start, end) of the window)."""
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


#: A pattern is trimmed to the span whose positions carry at least this share of its largest
#: per-position |contribution| (as modisco-lite's report trims for its TOMTOM matches): the
#: random flanks TF-MoDISco keeps would otherwise match long database motifs (CTCF) by chance.
TRIM_FRACTION = 0.3


def _trimmed(ppm: np.ndarray, cwm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score = np.abs(cwm).sum(1)
    keep = np.flatnonzero(score >= TRIM_FRACTION * score.max()) if score.max() > 0 else \
        np.arange(len(score))
    return ppm[keep[0]:keep[-1] + 1], cwm[keep[0]:keep[-1] + 1]


def _patterns(found: Sequence, prefix: str, offset: int) -> list[Pattern]:
    out = []
    for k, p in enumerate(found):
        seqlets = [(int(s.example_idx), int(s.start) + offset, int(s.end) + offset,
                    bool(s.is_revcomp)) for s in p.seqlets]
        ppm, cwm = _trimmed(np.asarray(p.sequence, float), np.asarray(p.contrib_scores, float))
        out.append(Pattern(f"{prefix}_{k}", ppm, cwm, seqlets))
    return out


def load_database(spec: str) -> dict[str, np.ndarray]:
    """Motifs to match against, name -> (4, W) base frequencies: ``jaspar`` (JASPAR CORE
    vertebrates, from pyjaspar's bundled copy: no network), ``jaspar:<taxon>`` (plants,
    insects, fungi, nematodes, urochordates, vertebrates) or a MEME file."""
    if spec.lower().startswith("jaspar"):
        try:
            from pyjaspar import jaspardb
        except ImportError as e:
            raise UserError("--database jaspar needs pyjaspar: pip install "
                            "-e '.[motifs]' in the checkout (or pip install pyjaspar)") from e
        taxon = spec.partition(":")[2] or "vertebrates"
        found = jaspardb().fetch_motifs(collection="CORE", tax_group=[taxon])
        if not found:
            raise UserError(f"--database {spec}: JASPAR CORE has no {taxon!r} motifs")
        out = {}
        for m in found:
            counts = np.array([m.counts[b] for b in "ACGT"], float)
            out[f"{m.matrix_id} {m.name}"] = counts / counts.sum(0, keepdims=True)
        return out
    path = Path(spec)
    if not path.is_file():
        raise UserError(f"--database {spec!r}: give 'jaspar', 'jaspar:<taxon>' or a MEME file")
    from memelite.io import read_meme

    motifs = read_meme(str(path))
    if not motifs:
        raise UserError(f"--database {spec!r} holds no MEME motifs")
    return {name: np.asarray(m, float) for name, m in motifs.items()}


#: Patterns with less mean information (bits per position) are not matched: TOMTOM gives
#: nearly uniform columns small p-values against long motifs (a noise pattern of TF-MoDISco
#: matched CTCF at p < 1e-10 in the simulation of the tests).
MIN_INFORMATION = 0.5


def match(patterns: list[Pattern], database: dict[str, np.ndarray], keep: int = 3) -> None:
    """Each pattern's ``keep`` best database matches by TOMTOM p-value (both strands), with
    Benjamini-Hochberg q-values over the whole database, stored in ``pattern.matches``;
    patterns below :data:`MIN_INFORMATION` are left unmatched."""
    if not database:
        return
    for pt in patterns:
        pt.searched = True
    informative = [pt for pt in patterns if pt.information >= MIN_INFORMATION]
    if not informative:
        return
    from memelite import tomtom

    names = list(database)
    p, *_ = tomtom([pt.ppm.T for pt in informative], [database[n] for n in names])
    p = np.asarray(p, float)
    for pt, row in zip(informative, p):
        order = np.argsort(row)
        ranked = row[order]
        q = np.minimum.accumulate((ranked * len(row) / np.arange(1, len(row) + 1))[::-1])[::-1]
        pt.matches = [(names[order[j]], float(ranked[j]), float(min(1.0, q[j])))
                      for j in range(min(keep, len(row)))]


def usage(patterns: list[Pattern], contrib: np.ndarray, delta: np.ndarray) -> list[dict]:
    """Which patterns each sequence uses: per sequence and pattern, its seqlets and their
    summed contribution (``contrib`` (N, L, 4) as in the score file), and that sum as a share
    of the sequence's ``delta`` (N,). Overlapping seqlets count each base once."""
    per_base = contrib.sum(-1)
    rows = []
    for pt in patterns:
        by_row: dict[int, list] = {}
        for r, s, e, _ in pt.seqlets:
            by_row.setdefault(r, []).append((s, e))
        for r, spans in sorted(by_row.items()):
            mask = np.zeros(per_base.shape[1], bool)
            for s, e in spans:
                mask[max(0, s):e] = True
            total = float(per_base[r][mask].sum())
            rows.append({"row": r, "pattern": pt.name, "seqlets": len(spans),
                         "contribution": total,
                         "share_of_delta": total / float(delta[r]) if delta[r] else np.nan})
    return rows


def contribution_shares(patterns: list[Pattern], contrib: np.ndarray) -> None:
    """Set each pattern's ``contribution`` (the sum of |contribution| over the bases its
    seqlets cover, a base covered by two of its seqlets counted once) and ``share`` (that
    over the sum for all patterns; NaN where every sum is 0).

    ``contrib``: (N, L, 4) as in the score file (the observed base's contribution; summed
    over the 4 columns it is the base's).
    """
    per_base = np.abs(contrib.sum(-1))
    for pt in patterns:
        by_row: dict[int, list] = {}
        for r, s, e, _ in pt.seqlets:
            by_row.setdefault(r, []).append((s, e))
        total = 0.0
        for r, spans in by_row.items():
            mask = np.zeros(per_base.shape[1], bool)
            for s, e in spans:
                mask[max(0, s):max(0, e)] = True
            total += float(per_base[r][mask].sum())
        pt.contribution = total
    grand = sum(pt.contribution for pt in patterns)
    for pt in patterns:
        pt.share = pt.contribution / grand if grand > 0 else math.nan


def by_share(patterns: list[Pattern], min_share: float = MIN_SHARE
             ) -> tuple[list[Pattern], list[Pattern]]:
    """(major, minor) patterns, each by share, largest first: minor below ``min_share``
    (where no share is known, every pattern is major, in TF-MoDISco's order)."""
    ordered = sorted(patterns, key=lambda pt: -pt.share if pt.share == pt.share else 0.0)
    major = [pt for pt in ordered if not pt.share < min_share]     # NaN: major
    return major, [pt for pt in ordered if pt.share < min_share]


def _percent(share: float) -> str:
    """0.1 -> ``10%``, 0.025 -> ``2.5%`` (``:.0%`` would print 2%)."""
    return f"{100 * share:g}%"


def _pattern_line(pt: Pattern, max_q: float) -> str:
    return (f"  {pt.name:<7} {pt.share:>6.1%} {len(pt.seqlets):>5} seqlets  "
            f"{pt.consensus:<24} {pt.match_text(max_q)}").rstrip()


def summary_lines(task: str, n_sequences: int, major: list[Pattern], minor: list[Pattern],
                  max_q: float, min_share: float, database: str | None) -> list[str]:
    """What ``kipoi-deeplift motifs`` prints and writes to summary.txt: the settings, the
    major patterns and, under their own heading, the minor ones."""
    n = len(major) + len(minor)
    matched = (f"database {database}: a match counts at q <= {max_q:g} (--max-q; "
               "Benjamini-Hochberg q over the database)" if database else
               "no database (--database): patterns not matched")
    if not n:
        return [f"task {task}: no pattern from {n_sequences} sequences", matched]
    out = [f"task {task}: {n} pattern(s) from {n_sequences} sequences, by share of the "
           "contribution (|contribution| summed over a pattern's seqlets, over that of all "
           "patterns' seqlets)", matched,
           f"major patterns, {_percent(min_share)} of the contribution or more (--min-share):"]
    out += [_pattern_line(pt, max_q) for pt in major]
    out.append(f"minor patterns, below {_percent(min_share)} of the contribution:"
               + ("" if minor else " none"))
    out += [_pattern_line(pt, max_q) for pt in minor]
    return out


def _logo_scale(patterns: list[Pattern]) -> tuple[float, float] | None:
    """One y range for every pattern's logo: the lowest stack of negative and the highest
    of positive CWM values over all patterns, so that heights compare across patterns."""
    if not patterns:
        return None
    lo = min(float(np.clip(pt.cwm, None, 0).sum(1).min(initial=0.0)) for pt in patterns)
    hi = max(float(np.clip(pt.cwm, 0, None).sum(1).max(initial=0.0)) for pt in patterns)
    if hi - lo <= 0:
        return None
    pad = 0.05 * (hi - lo)
    return lo - (pad if lo < 0 else 0.0), hi + (pad if hi > 0 else 0.0)


def _title(pt: Pattern, max_q: float, min_share: float, minor: bool, sep: str = "; "
           ) -> str:
    """``NAME: SHARE of the contribution[ (minor...)], N seqlets`` and the match text, joined
    by ``sep``."""
    share = f"{pt.share:.1%} of the contribution" + (
        f" (minor: below {_percent(min_share)})" if minor else "")
    match = pt.match_text(max_q)
    return f"{pt.name}: {share}, {len(pt.seqlets)} seqlets" + (f"{sep}{match}" if match else "")


#: A minor pattern's logo is drawn at this fraction of a major one's size (figure inches).
MINOR_SCALE = 0.6


def _logo(path: Path, pt: Pattern, title: str, ylim: tuple[float, float] | None,
          scale: float = 1.0) -> None:
    """The pattern's CWM logo, at ``scale`` of the full size, on the y range ``ylim``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import MaxNLocator

    small = scale < 1
    fig, ax = plt.subplots(figsize=(max(5.5, 0.3 * len(pt.cwm)) * scale, 2.8 * scale))
    draw_logo(ax, pt.cwm, np.arange(1, len(pt.cwm) + 1), "contribution")
    if ylim:
        ax.set_ylim(*ylim)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("position in the pattern (1-based)", fontsize=7 if small else 10)
    if small:
        ax.set_ylabel("contribution", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fit_title(ax, title, fontsize=6 if scale < 1 else 8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def _overview(path: Path, major: list[Pattern], minor: list[Pattern], header: str,
              max_q: float, min_share: float, ylim: tuple[float, float] | None) -> None:
    """Every pattern's logo in one picture, on one y range and one base width: the major
    patterns first, full height, then the minor ones under their own heading, smaller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not major and not minor:         # still a picture: an earlier run's would mislead
        fig, ax = plt.subplots(figsize=(7.0, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{header}\nTF-MoDISco found no pattern", ha="center",
                va="center", fontsize=9, transform=ax.transAxes)
        fig.savefig(path, dpi=100, format="png")
        plt.close(fig)
        return
    width = max(len(pt.cwm) for pt in major + minor)
    heights = [2.0] * len(major) + ([0.5] if minor else []) + [2.0 * MINOR_SCALE] * len(minor)
    fig, axes = plt.subplots(len(heights), 1, squeeze=False,
                             figsize=(max(7.0, 0.3 * width + 2), sum(heights) + 0.9),
                             gridspec_kw={"height_ratios": heights})
    axes = list(axes[:, 0])

    def row(pt, is_minor: bool) -> None:
        """One pattern's logo on the common x and y scales (minor ones smaller)."""
        ax = axes.pop(0)
        draw_logo(ax, pt.cwm, np.arange(1, len(pt.cwm) + 1), "" if is_minor else "contribution")
        ax.set_xlim(0.5, width + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ylim:
            ax.set_ylim(*ylim)
        if is_minor:
            ax.tick_params(labelsize=6)
        ax.set_title(_title(pt, max_q, min_share, is_minor), fontsize=6 if is_minor else 8,
                     loc="left")

    for pt in major:
        row(pt, False)
    if minor:
        ax = axes.pop(0)
        ax.axis("off")
        ax.text(0, 0.2, f"minor patterns, below {_percent(min_share)} of the contribution "
                "(same scale)", fontsize=9, weight="bold", transform=ax.transAxes)
    for pt in minor:
        row(pt, True)
    axes_drawn = fig.axes
    axes_drawn[-1].set_xlabel("position in the pattern (1-based; one base as wide in every "
                              "row)", fontsize=7 if minor else 9)
    # Wrapped to the figure (about 13 characters of 9 pt text per inch): a long model name
    # ran off both sides.
    per_line = max(40, int(13 * fig.get_figwidth()))
    fig.suptitle("\n".join(textwrap.fill(line, per_line) for line in header.split("\n")),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


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
SEQLET_COLUMNS = ("row", "pattern", "start", "end", "reverse")
USAGE_COLUMNS = ("row", "chr", "start", "end", "name", "pattern", "seqlets", "contribution",
                 "share_of_delta")


def check_thresholds(max_q: float, min_share: float) -> None:
    """One-line errors for ``--max-q`` (0 < q <= 1) and ``--min-share`` (0 <= share < 1)."""
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


def motifs(h5_path: str, out_dir: str, task: str | None = None, input_name: str | None = None,
           database: str | None = None, max_seqlets: int = 2000,
           window: int | None = None, max_q: float = MAX_Q,
           min_share: float = MIN_SHARE) -> dict:
    """Run TF-MoDISco on one task of a score file written with hypothetical contributions
    (``score --hypothetical``) and write the files listed in this module's docstring under
    ``out_dir``; with ``database`` (see :func:`load_database`) each pattern is matched, and
    a match counts at q <= ``max_q``; patterns below ``min_share`` of the contribution are
    minor. Where TF-MoDISco finds no pattern, a :class:`~kipoi_deeplift.errors.Notice` says
    why (too few seqlets for modisco-lite, or none that clustered).

    Returns ``{"patterns": [Pattern] (by share), "major": [...], "minor": [...],
    "usage": [dict], "files": [paths], "task": str, "summary": [lines], "max_q": float,
    "min_share": float}``.
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
        model, rule = h5.attrs.get("model", ""), h5.attrs.get("rule", "")
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
                      stacklevel=2)
    patterns = _patterns(pos, "pos", start) + _patterns(neg, "neg", start)
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
    out = Path(out_dir)
    staged = Staged()
    try:
        import modiscolite

        results = staged.path(out / "modisco.h5")
        # h5py locks the files it writes, and the staged name is already locked by this
        # process: written under a plain temporary name, then moved onto the staged one.
        with tempfile.TemporaryDirectory(dir=out) as scratch:
            plain = Path(scratch) / "modisco.h5"
            modiscolite.io.save_hdf5(str(plain), pos, neg, int(ohe.shape[2] - 2 * start))
            os.replace(plain, results)
        meme = staged.path(out / "patterns.meme")
        _write_meme(meme, patterns)
        ylim = _logo_scale(patterns)
        about = f"model {Path(str(model)).name}, task {task}, {rule}"
        rows = []
        minor_names = {pt.name for pt in minor}
        for pt in patterns:
            is_minor = pt.name in minor_names
            logo = out / "logos" / f"{pt.name}.png"
            _logo(staged.path(logo), pt,
                  f"{_title(pt, max_q, min_share, is_minor, sep=chr(10))}\n{about}",
                  ylim, MINOR_SCALE if is_minor else 1.0)
            best = pt.matches[0] if pt.matches else ("", "", "")
            row = {"pattern": pt.name, "group": "minor" if is_minor else "major",
                   "share": pt.share, "contribution": pt.contribution,
                   "seqlets": len(pt.seqlets), "width": len(pt.ppm),
                   "bits_per_position": pt.information, "consensus": pt.consensus,
                   "match": pt.match_status(max_q), "best_match": best[0], "best_p": best[1],
                   "best_q": best[2], "logo": f"logos/{pt.name}.png"}
            for j, (name, p, q) in enumerate(pt.significant(max_q), 1):
                row.update({f"match_{j}": name, f"p_{j}": p, f"q_{j}": q})
            rows.append(row)
        _overview(staged.path(out / "patterns.png"), major, minor,
                  f"TF-MoDISco patterns, {about}\none contribution scale for every logo; a "
                  f"database match counts at q <= {max_q:g}", max_q, min_share, ylim)
        _write_tsv(staged.path(out / "patterns.tsv"), rows, PATTERN_COLUMNS)
        staged.path(out / "summary.txt").write_text("\n".join(summary) + "\n")
        _write_tsv(staged.path(out / "usage.tsv"), used, USAGE_COLUMNS)
        _write_tsv(staged.path(out / "seqlets.tsv"),
                   [{"row": r, "pattern": pt.name, "start": a, "end": b, "reverse": int(rev)}
                    for pt in patterns for r, a, b, rev in pt.seqlets], SEQLET_COLUMNS)
        files = [str(p) for p in staged.commit()]
    except BaseException:
        staged.discard()
        raise
    return {"patterns": patterns, "major": major, "minor": minor, "usage": used,
            "files": files, "task": task, "summary": summary, "max_q": max_q,
            "min_share": min_share}


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
