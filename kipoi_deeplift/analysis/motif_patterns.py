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


#: A pattern is trimmed to the span whose positions carry at least this share of its largest
#: per-position |contribution| (as modisco-lite's report trims for its TOMTOM matches): the
#: random flanks TF-MoDISco keeps would otherwise match long database motifs (CTCF) by chance.
TRIM_FRACTION = 0.3


def _trimmed(ppm: np.ndarray, cwm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score = np.abs(cwm).sum(1)
    keep = np.flatnonzero(score >= TRIM_FRACTION * score.max()) if score.max() > 0 else \
        np.arange(len(score))
    return ppm[keep[0]:keep[-1] + 1], cwm[keep[0]:keep[-1] + 1]


def patterns_from_modisco(found: Sequence, prefix: str, offset: int) -> list[Pattern]:
    """modisco-lite's patterns as :class:`Pattern` named ``<prefix>_<k>``, trimmed, with
    their seqlets moved by ``offset`` (the first base of the window TF-MoDISco read) into
    positions of the whole sequence."""
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


def percent(share: float) -> str:
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
           f"major patterns, {percent(min_share)} of the contribution or more (--min-share):"]
    out += [_pattern_line(pt, max_q) for pt in major]
    out.append(f"minor patterns, below {percent(min_share)} of the contribution:"
               + ("" if minor else " none"))
    out += [_pattern_line(pt, max_q) for pt in minor]
    return out
