"""TF-MoDISco's patterns and what is said about them: their trimmed matrices and seqlets,
their share of the contribution (major and minor), their database matches (TOMTOM, with
Benjamini-Hochberg q-values) and the summary lines ``kipoi-deeplift motifs`` prints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserError

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
    """One TF-MoDISco pattern, trimmed to the informative span (:data:`TRIM_FRACTION`).

    Parameters
    ----------
    name : str
        ``pos_0``, ``neg_1``...
    ppm, cwm : numpy.ndarray, shape=(W, 4)
        Base frequencies and contribution weight matrix, both trimmed.
    seqlets : list
        Its seqlets (untrimmed) as (row, start, end, reverse) in the sequences as the model
        read them.
    matches : list, optional
        Its database matches (name, p-value, q-value), best first.
    searched : bool, optional
        Whether a database was given.
    contribution : float, optional
        The sum of |contribution| over the bases its seqlets cover.
    share : float, optional
        That over the sum for all patterns (:func:`contribution_shares`); NaN unknown.
    """

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
        """Mean information content of the (trimmed) pattern, bits per position (0 to 2).

        Returns
        -------
        float
        """
        q = np.clip(self.ppm, 1e-9, 1.0)
        q = q / q.sum(1, keepdims=True)
        return float(np.mean(2.0 + (q * np.log2(q)).sum(1)))

    @property
    def consensus(self) -> str:
        """The most frequent base at each position where the pattern is informative.

        Returns
        -------
        str
            Lower case where no base reaches half.
        """
        out = []
        for row in self.ppm:
            b = "ACGT"[int(np.argmax(row))]
            out.append(b if row.max() >= 0.5 else b.lower())
        return "".join(out)

    def significant(self, max_q: float = MAX_Q) -> list:
        """The matches at q <= ``max_q`` (a prefix of ``matches``: q grows with p).

        Parameters
        ----------
        max_q : float, optional
            Default :data:`MAX_Q`.

        Returns
        -------
        list of tuple
            (name, p-value, q-value) each.
        """
        return [m for m in self.matches if m[2] <= max_q]

    def match_status(self, max_q: float = MAX_Q) -> str:
        """How the pattern matched the database, in a word or three.

        Parameters
        ----------
        max_q : float, optional
            The q-value at which a match counts. Default :data:`MAX_Q`.

        Returns
        -------
        str
            ``significant``, ``no significant match``, ``not matched`` (too little information to
            match, :data:`MIN_INFORMATION`) or ``""`` (no database).
        """
        if not self.searched:
            return ""
        if not self.matches:
            return "not matched"
        return "significant" if self.significant(max_q) else "no significant match"

    def match_text(self, max_q: float = MAX_Q) -> str:
        """The match as every output says it.

        Parameters
        ----------
        max_q : float, optional
            The q-value at which a match counts. Default :data:`MAX_Q`.

        Returns
        -------
        str
            ``NAME (p P, q Q)`` at q <= ``max_q``, else ``no significant match (best NAME, p P, q
            Q > max_q)``, or why it was not matched.
        """
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


#: A pattern is trimmed to the span whose positions carry at least this share of its largest
#: per-position |contribution| (as modisco-lite's report trims for its TOMTOM matches): the
#: random flanks TF-MoDISco keeps would otherwise match long database motifs (CTCF) by chance.
TRIM_FRACTION = 0.3


def trim_span(cwm: np.ndarray) -> slice:
    """The span of a pattern kept: the positions from the first to the last that carry at
    least :data:`TRIM_FRACTION` of its largest per-position |contribution| (all of it where
    the CWM is zero).

    Parameters
    ----------
    cwm : numpy.ndarray, shape=(W, 4)

    Returns
    -------
    slice
    """
    score = np.abs(cwm).sum(1)
    if not score.max() > 0:
        return slice(0, len(score))
    keep = np.flatnonzero(score >= TRIM_FRACTION * score.max())
    return slice(keep[0], keep[-1] + 1)


def _trimmed(ppm: np.ndarray, cwm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    span = trim_span(cwm)
    return ppm[span], cwm[span]


def patterns_from_modisco(found: Sequence, prefix: str, offset: int) -> list[Pattern]:
    """modisco-lite's patterns as :class:`Pattern`, trimmed, in positions of the whole sequence.

    Parameters
    ----------
    found : sequence
        modisco-lite's patterns of one sign.
    prefix : str
        Names are ``<prefix>_<k>``.
    offset : int
        The first base of the window TF-MoDISco read: the seqlets are moved by it.

    Returns
    -------
    list of Pattern
    """
    out = []
    for k, p in enumerate(found):
        seqlets = [(int(s.example_idx), int(s.start) + offset, int(s.end) + offset,
                    bool(s.is_revcomp)) for s in p.seqlets]
        ppm, cwm = _trimmed(np.asarray(p.sequence, float), np.asarray(p.contrib_scores, float))
        out.append(Pattern(f"{prefix}_{k}", ppm, cwm, seqlets))
    return out


def load_database(spec: str) -> dict[str, np.ndarray]:
    """Motifs to match against.

    Parameters
    ----------
    spec : str
        ``jaspar`` (JASPAR CORE vertebrates, from pyjaspar's bundled copy: no network),
        ``jaspar:<taxon>`` (plants, insects, fungi, nematodes, urochordates, vertebrates) or a
        MEME file.

    Returns
    -------
    dict of str to numpy.ndarray, shape=(4, W)
        Name -> base frequencies.
    """
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
    """Store each pattern's best database matches in ``pattern.matches``.

    By TOMTOM p-value (both strands), with Benjamini-Hochberg q-values over the whole
    database; patterns below :data:`MIN_INFORMATION` are left unmatched.

    Parameters
    ----------
    patterns : list of Pattern
    database : dict of str to numpy.ndarray, shape=(4, W)
        As :func:`load_database` returns it.
    keep : int, optional
        Matches kept per pattern. Default 3.
    """
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
    """Which patterns each sequence uses. Overlapping seqlets count each base once.

    Parameters
    ----------
    patterns : list of Pattern
    contrib : numpy.ndarray, shape=(N, L, 4)
        As in the score file.
    delta : numpy.ndarray, shape=(N,)

    Returns
    -------
    list of dict
        Per sequence and pattern it uses: ``row``, ``pattern``, ``seqlets`` (count),
        ``contribution`` (their summed contribution) and ``share_of_delta`` (that sum as a
        share of the sequence's ``delta``; NaN where it is 0).
    """
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
    """Set each pattern's ``contribution`` and ``share``.

    ``contribution``: the sum of |contribution| over the bases its seqlets cover, a base
    covered by two of its seqlets counted once; ``share``: that over the sum for all patterns
    (NaN where every sum is 0).

    Parameters
    ----------
    patterns : list of Pattern
    contrib : numpy.ndarray, shape=(N, L, 4)
        As in the score file (the observed base's contribution; summed over the 4 columns it
        is the base's).
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
    """(major, minor) patterns, each by share, largest first.

    Parameters
    ----------
    patterns : list of Pattern
    min_share : float, optional
        Minor below it (where no share is known, every pattern is major, in TF-MoDISco's
        order). Default :data:`MIN_SHARE`.

    Returns
    -------
    major, minor : list of Pattern
    """
    ordered = sorted(patterns, key=lambda pt: -pt.share if pt.share == pt.share else 0.0)
    major = [pt for pt in ordered if not pt.share < min_share]     # NaN: major
    return major, [pt for pt in ordered if pt.share < min_share]


def percent(share: float) -> str:
    """A share as a percentage: 0.1 -> ``10%``, 0.025 -> ``2.5%`` (``:.0%`` would print 2%).

    Parameters
    ----------
    share : float

    Returns
    -------
    str
    """
    return f"{100 * share:g}%"


def _pattern_line(pt: Pattern, max_q: float) -> str:
    return (f"  {pt.name:<7} {pt.share:>6.1%} {len(pt.seqlets):>5} seqlets  "
            f"{pt.consensus:<24} {pt.match_text(max_q)}").rstrip()


def summary_lines(task: str, n_sequences: int, major: list[Pattern], minor: list[Pattern],
                  max_q: float, min_share: float, database: str | None) -> list[str]:
    """What ``kipoi-deeplift motifs`` prints and writes to summary.txt.

    The settings, the major patterns and, under their own heading, the minor ones.

    Parameters
    ----------
    task : str
    n_sequences : int
    major, minor : list of Pattern
        As :func:`by_share` returns them.
    max_q, min_share : float
        The thresholds used.
    database : str or None
        The database given.

    Returns
    -------
    list of str
    """
    n = len(major) + len(minor)
    matched = (f"database {database}: a match counts at q <= {max_q:g} (--max-q; "
               "Benjamini-Hochberg q over the database)" if database else
               "no database (--database): patterns not matched")
    if not n:
        return [f"task {task}: no pattern from {n_sequences} sequences", matched]
    out = [f"task {task}: {n} pattern(s) from {n_sequences} sequences, by share of the "
           "contribution (|contribution| summed over a pattern's seqlets, over that of all "
           "patterns' seqlets)", matched,
           f"major patterns, {percent(min_share)} of the contribution or more (--min-share):"]
    out += [_pattern_line(pt, max_q) for pt in major]
    out.append(f"minor patterns, below {percent(min_share)} of the contribution:"
               + ("" if minor else " none"))
    out += [_pattern_line(pt, max_q) for pt in minor]
    return out
