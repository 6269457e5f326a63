"""Motifs a model learned: TF-MoDISco (modisco-lite) on a score file's hypothetical
contributions, each pattern matched against a motif database with TOMTOM (memelite's, no
external binary), and which patterns each sequence uses.

Data flow: score file -> (one-hot, hypothetical contributions) -> TF-MoDISco patterns and
seqlets -> database matches -> files in the output directory:

    modisco.h5            modisco-lite's results (``modisco report``/``meme`` read it)
    patterns.meme         each pattern's base frequencies (MEME format, for other tools)
    patterns.tsv          one row per pattern: seqlets, consensus, best matches, p and q values
    usage.tsv             one row per sequence and pattern: seqlets and their summed
                          contribution, and its share of the sequence's delta
    seqlets.tsv           every seqlet: row, pattern, start, end (0-based, in the sequence as
                          the model read it), reverse (1 where it matches the pattern's
                          reverse complement); ``kipoi-deeplift sites --motifs`` reads it
    logos/<pattern>.png   each pattern's contribution weight matrix, labelled
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserError
from ..io import scorefile as sf
from ..io.derived import modisco_settings
from ..io.writers import Staged, modisco_arrays
from .plots import draw_logo

#: modisco-lite's command-line settings (``modisco motifs``); the seqlet sizes are replaced
#: by :func:`kipoi_deeplift.io.derived.modisco_settings` for the sequence length.
MODISCO_SETTINGS = {"sliding_window_size": 20, "flank_size": 5, "trim_to_window_size": 30,
                    "initial_flank_to_add": 10, "final_flank_to_add": 0,
                    "target_seqlet_fdr": 0.05, "n_leiden_runs": 2}


@dataclass
class Pattern:
    """One TF-MoDISco pattern: ``name`` (``pos_0``, ``neg_1``...), ``ppm`` (W, 4) base
    frequencies and ``cwm`` (W, 4) contribution weight matrix, both trimmed to the
    informative span (:data:`TRIM_FRACTION`), its seqlets (untrimmed) as (row, start, end,
    reverse) in the sequences as the model read them, and its database matches
    (name, p-value, q-value), best first."""

    name: str
    ppm: np.ndarray
    cwm: np.ndarray
    seqlets: list
    matches: list = field(default_factory=list)

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
        raise UserError("motifs needs modisco-lite: pip install 'kipoi_deeplift[motifs]'") \
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
                            "'kipoi_deeplift[motifs]'") from e
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
    informative = [pt for pt in patterns if pt.information >= MIN_INFORMATION]
    if not informative or not database:
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


def _logo(path: Path, pt: Pattern, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.5, 0.3 * len(pt.cwm)), 2.4))
    draw_logo(ax, pt.cwm, np.arange(1, len(pt.cwm) + 1), "contribution")
    ax.set_xlabel("position in the pattern (1-based)")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def _write_tsv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns, delimiter="\t", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})


PATTERN_COLUMNS = ("pattern", "seqlets", "width", "bits_per_position", "consensus", "match_1", "p_1", "q_1",
                   "match_2", "p_2", "match_3", "p_3", "logo")
SEQLET_COLUMNS = ("row", "pattern", "start", "end", "reverse")
USAGE_COLUMNS = ("row", "chr", "start", "end", "name", "pattern", "seqlets", "contribution",
                 "share_of_delta")


def motifs(h5_path: str, out_dir: str, task: str | None = None, input_name: str | None = None,
           database: str | None = None, max_seqlets: int = 2000,
           window: int | None = None) -> dict:
    """Run TF-MoDISco on one task of a score file written with hypothetical contributions
    (``score --hypothetical``) and write the files listed in this module's docstring under
    ``out_dir``; with ``database`` (see :func:`load_database`) each pattern is matched.

    Returns ``{"patterns": [Pattern], "usage": [dict], "files": [paths], "task": str}``.
    """
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
    pos, neg, (start, _) = run_modisco(ohe, hyp, max_seqlets, window)
    patterns = _patterns(pos, "pos", start) + _patterns(neg, "neg", start)
    if database:
        match(patterns, load_database(database))
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
        rows = []
        for pt in patterns:
            logo = out / "logos" / f"{pt.name}.png"
            best = f"; best match {pt.matches[0][0]} (p {pt.matches[0][1]:.2g})" \
                if pt.matches else ""
            _logo(staged.path(logo), pt, f"{pt.name}: {len(pt.seqlets)} seqlets{best}\n"
                                         f"model {Path(str(model)).name}, task {task}, {rule}")
            row = {"pattern": pt.name, "seqlets": len(pt.seqlets), "width": len(pt.ppm),
                   "bits_per_position": pt.information, "consensus": pt.consensus,
                   "logo": f"logos/{pt.name}.png"}
            for j, (name, p, q) in enumerate(pt.matches, 1):
                row.update({f"match_{j}": name, f"p_{j}": p, f"q_{j}": q})
            rows.append(row)
        _write_tsv(staged.path(out / "patterns.tsv"), rows, PATTERN_COLUMNS)
        _write_tsv(staged.path(out / "usage.tsv"), used, USAGE_COLUMNS)
        _write_tsv(staged.path(out / "seqlets.tsv"),
                   [{"row": r, "pattern": pt.name, "start": a, "end": b, "reverse": int(rev)}
                    for pt in patterns for r, a, b, rev in pt.seqlets], SEQLET_COLUMNS)
        files = [str(p) for p in staged.commit()]
    except BaseException:
        staged.discard()
        raise
    return {"patterns": patterns, "usage": used, "files": files, "task": task}


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
