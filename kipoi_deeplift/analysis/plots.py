"""Pictures of one result: sequence logos of per-base contributions (logomaker), by example or
by genome region."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..io import scorefile as sf
from ..errors import UserError
from ..io.writers import staged_file

BASES = list("ACGT")
_REGION = re.compile(r"^(?P<chr>[^:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """'chr1:1,000-2,000' -> ('chr1', 1000, 2000) (0-based, end exclusive, as in BED)."""
    m = _REGION.match(region.strip())
    if not m:
        raise UserError(f"region {region!r}: write it as CHR:START-END, e.g. chr1:1000-1100")
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if end <= start:
        raise UserError(f"region {region!r}: the end must be after the start")
    return m["chr"], start, end


def _pick(h5: sf.ScoreFile, example: int | None, region: str | None):
    """(example index, first and last position to show, genome start or None, label)."""
    n = h5.n
    if region is None:
        if example is None:
            raise UserError("give --example I or --region CHR:START-END")
        if not 0 <= example < n:
            raise UserError(f"--example {example} out of range: the file holds {n} sequences")
        return example, 0, None, None, f"example {example}"
    if not h5.has_ranges():
        raise UserError("--region needs genomic ranges in the file; use --example I")
    chrom, start, end = parse_region(region)
    r = h5.ranges(("chr", "start", "end"))
    chroms, starts, ends = r["chr"], r["start"], r["end"]
    hits = np.flatnonzero((chroms == chrom) & (starts < end) & (ends > start))
    if not hits.size:
        raise UserError(f"no scored interval overlaps {region}")
    i = int(hits[0])
    return i, max(start, int(starts[i])), int(starts[i]), min(end, int(ends[i])), \
        f"{chrom}:{max(start, int(starts[i]))}-{min(end, int(ends[i]))}"


def projected(contrib: np.ndarray, onehot: np.ndarray | None) -> np.ndarray:
    """Each position's total contribution drawn on the base that is there: per channel,
    m * (x - r) is also non-zero on the references' bases, which are not in the sequence."""
    if onehot is None:
        return contrib
    return contrib.sum(-1, keepdims=True) * onehot


def draw_logo(ax, values: np.ndarray, positions, ylabel: str) -> None:
    """A logomaker logo of (L, 4) values at ``positions`` on ``ax``."""
    import logomaker
    import pandas as pd

    df = pd.DataFrame(values, columns=BASES)
    df.index = positions
    logomaker.Logo(df, ax=ax, color_scheme="classic")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel(ylabel)


def plot(h5_path: str, output: str, example: int | None = None, region: str | None = None,
         task: str | None = None, input_name: str | None = None) -> str:
    """A logo of the contributions of one sequence (and its hypothetical contributions when
    the file has them) for one task; returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with sf.ScoreFile(h5_path) as h5:
        input_name = input_name or h5.dna_input()
        tasks = h5.tasks(input_name)
        task = tasks[0] if task is None else sf.h5_key(task)
        if task not in tasks:
            raise UserError(f"task {task!r} is not in {h5_path}; tasks: {', '.join(tasks)}")
        i, lo, g0, hi, label = _pick(h5, example, region)
        contrib = projected(h5[sf.contrib(input_name, task)][i].astype(float),
                            h5[sf.inputs(input_name)][i].astype(float)
                            if sf.inputs(input_name) in h5 else None)
        hyp = h5[sf.hyp_contrib(input_name, task)][i].astype(float) \
            if sf.hyp_contrib(input_name, task) in h5 else None
        flip = bool(h5.reversed_rows()[i]) if h5.has_ranges() else False
        delta = float(h5[sf.delta(task)][i])
        pred = float(h5[sf.preds(task)][i])
        model = h5.attrs.get("model", "")
        rule = h5.attrs.get("rule", "")
    if g0 is not None:              # genome coordinates -> positions in the sequence
        a, b = lo - g0, hi - g0
        if flip:
            a, b = len(contrib) - b, len(contrib) - a
    else:
        a, b = 0, len(contrib)
    rows = [("contribution", contrib[a:b])] + ([("hypothetical", hyp[a:b])] if hyp is not None
                                               else [])
    if g0 is not None and flip:     # drawn along the genome: reverse and complement (ACGT)
        rows = [(name, v[::-1, ::-1]) for name, v in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(24, 2 + 0.12 * (b - a)), 2.2 * len(rows)),
                             squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], rows):
        draw_logo(ax, values, np.arange(a, b) if g0 is None else np.arange(lo, hi), name)
    axes[0, 0].set_title(f"{model}  task {task}  {label}  ({rule}; logit {pred:.3g}, "
                         f"delta {delta:.3g})", fontsize=9)
    axes[-1, 0].set_xlabel("genome position" if g0 is not None else "position in sequence")
    fig.tight_layout()
    try:
        with staged_file(output) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(output).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return str(output)
