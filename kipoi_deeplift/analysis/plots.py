"""Pictures of one result: sequence logos of per-base contributions (logomaker), by example or
by genome region."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

from ..io import scorefile as sf
from ..io.coordinates import sequence_start
from ..errors import UserError
from ..io.staging import staged_file

BASES = list("ACGT")
_REGION = re.compile(r"^(?P<chr>[^:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """A region as browsers write it -> BED coordinates.

    Parameters
    ----------
    region : str
        'chr1:1,001-1,100': 1-based, both ends included, as genome browsers and samtools write
        regions.

    Returns
    -------
    chrom : str
    start, end : int
        0-based, end exclusive, as in BED and in score files: ('chr1', 1000, 1100).
    """
    m = _REGION.match(region.strip())
    if not m:
        raise UserError(f"region {region!r}: write it as CHR:START-END (1-based, as a genome "
                        "browser shows it), e.g. chr1:1001-1100")
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if start < 1 or end < start:
        raise UserError(f"region {region!r}: START must be at least 1 and END at least START")
    return m["chr"], start - 1, end


def browser_region(chrom: str, start: int, end: int) -> str:
    """0-based half-open -> 'chr1:1,001-1,100' (1-based, inclusive, as browsers show it).

    Parameters
    ----------
    chrom : str
    start, end : int
        0-based, end exclusive.

    Returns
    -------
    str
    """
    return f"{chrom}:{start + 1:,}-{end:,}"


def _row_for_region(h5: sf.ScoreFile, region: str) -> tuple[int, str, int, int]:
    """(row, chrom, start, end): the first scored interval overlapping ``region`` and the part
    of the region inside it (0-based half-open)."""
    if not h5.has_ranges():
        raise UserError("--region needs genomic ranges in the file; use --example I")
    chrom, start, end = parse_region(region)
    r = h5.ranges(("chr", "start", "end"))
    hits = np.flatnonzero((r["chr"] == chrom) & (r["start"] < end) & (r["end"] > start))
    if not hits.size:
        raise UserError(f"no scored interval overlaps {region}")
    i = int(hits[0])
    return i, chrom, max(start, int(r["start"][i])), min(end, int(r["end"][i]))


def logo_panels(h5: sf.ScoreFile, input_name: str, task: str, example: int | None = None,
                region: str | None = None) -> dict:
    """What a logo of one sequence shows, in the orientation it is drawn in.

    With ``region`` the panels run along the genome's + strand: a sequence the model read as
    the reverse complement is reversed and complemented, and positions are 1-based genome
    coordinates. With ``example`` they run along the sequence as the model read it, positions
    1-based in it.

    Parameters
    ----------
    h5 : ScoreFile
    input_name, task : str
        The input (one-hot, (N, L, 4)) and task whose contributions are drawn.
    example : int, optional
        A row, counted from 0.
    region : str, optional
        A region, 1-based (see :func:`parse_region`).

    Returns
    -------
    dict
        ``{"row", "rows": [(name, (W, 4) values)], "positions": (W,) 1-based, "where": label,
        "xlabel", "genome": bool, "flipped": bool}``: ``where`` names the row, its genome
        region (1-based) where the file has ranges, the strand the model read and which way the
        logo runs; ``flipped``: drawn reversed and complemented against the read.
    """
    if region is None:
        if example is None:
            raise UserError("give --example I or --region CHR:START-END")
        if not 0 <= example < h5.n:
            raise UserError(f"--example {example} is not a row of the file: it holds rows 0 "
                            f"to {h5.n - 1}")
        i = example
    else:
        i, chrom, lo, hi = _row_for_region(h5, region)
    values = h5[sf.contrib(input_name, task)][i].astype(float)
    if "contrib_form" not in h5.attrs and sf.inputs(input_name) in h5:   # files before 0.9
        values = sf.project(values, h5[sf.inputs(input_name)][i].astype(float))
    rows = [("contribution", values)]
    if sf.hyp_contrib(input_name, task) in h5:
        rows.append(("hypothetical", h5[sf.hyp_contrib(input_name, task)][i].astype(float)))
    length = len(values)
    if region is None:
        return {"row": i, "rows": rows, "positions": np.arange(1, length + 1),
                "where": _example_where(h5, i, length), "genome": False, "flipped": False,
                "xlabel": "position in the sequence as the model read it (1-based)"}
    r = h5.ranges(("start", "end"))
    flip = bool(h5.reversed_rows()[i])
    positions, rows = along_genome(rows, int(r["start"][i]), int(r["end"][i]), flip, lo, hi)
    lo, hi = int(positions[0]) - 1, int(positions[-1])
    return {"row": i, "rows": rows, "positions": positions,
            "where": f"{browser_region(chrom, lo, hi)} (row {i}); " + (
                "the model read the - strand: drawn along + (reversed and complemented)"
                if flip else "the model read the + strand: drawn as read"),
            "genome": True, "flipped": flip,
            "xlabel": f"{chrom} position (1-based, as genome browsers show it; + strand)"}


def _example_where(h5: sf.ScoreFile, i: int, length: int) -> str:
    """What ``--example i`` shows, in words: the row, its name, the genome region of the
    scored sequence (1-based, as a browser shows it) and the strand the model read it on. The
    logo runs as the model read it, so on the - strand its position 1 is the region's last
    base: said outright, as a reader would otherwise take the left end for the region's
    start."""
    if not h5.has_ranges():
        return f"row {i} (no genome coordinates in the file)"
    r = h5.ranges(("chr", "start", "end", "id"))
    chrom = str(r["chr"][i])
    g0 = sequence_start(int(r["start"][i]), int(r["end"][i]), length)
    name = f", {r['id'][i]}" if "id" in r else ""
    where = f"row {i}{name}: {browser_region(chrom, g0, g0 + length)}"
    if bool(h5.reversed_rows()[i]):
        return (f"{where}, - strand: drawn as the model read it (reverse complement), position "
                f"1 = {chrom}:{g0 + length:,}")
    return f"{where}, + strand: drawn as the model read it, position 1 = {chrom}:{g0 + 1:,}"


def fit_title(ax, text: str, fontsize: float = 9, loc: str = "center",
              reserve_px: float = 0.0):
    """Set ``text`` as the title of ``ax``, wrapped to the axes' width.

    Each of its lines is wrapped at spaces so that the title is no wider than the axes (less
    ``reserve_px``). A title is drawn centred over its axes and is not shrunk: on a narrow
    region (a logo of a few bases) one long line ran off both sides of the picture.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    text : str
    fontsize : float, optional
        Default 9.
    loc : str, optional
        matplotlib's title location. Default ``"center"``.
    reserve_px : float, optional
        Pixels kept free for a legend beside the title. Default 0.

    Returns
    -------
    matplotlib.text.Text
    """
    renderer = ax.figure.canvas.get_renderer()
    room = ax.get_window_extent(renderer).width - reserve_px
    title = ax.set_title(text, fontsize=fontsize, loc=loc)
    lines = text.split("\n")
    for width in range(max(map(len, lines)), 7, -1):
        if title.get_window_extent(renderer).width <= room:
            break
        title.set_text("\n".join(textwrap.fill(line, width, break_on_hyphens=False)
                                  for line in lines))
    return title


def fit_label(ax, text: str) -> None:
    """The x label of ``ax``, wrapped at spaces to the axes' width (see :func:`fit_title`).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    text : str
    """
    renderer = ax.figure.canvas.get_renderer()
    room = ax.get_window_extent(renderer).width
    label = ax.set_xlabel(text)
    for width in range(len(text), 7, -1):
        if label.get_window_extent(renderer).width <= room:
            break
        label.set_text(textwrap.fill(text, width, break_on_hyphens=False))




def along_genome(rows: list, range_start: int, range_end: int, flip: bool, lo: int, hi: int
                 ) -> tuple[np.ndarray, list]:
    """Per-position values of one scored sequence for a genome window, along the + strand.

    Reversed and complemented where the model read the reverse complement (``flip``).

    Parameters
    ----------
    rows : list of (str, numpy.ndarray, shape=(L, 4))
        (name, values) as the model read the sequence.
    range_start, range_end : int
        The sequence's range in the genome (0-based, half-open).
    flip : bool
        Whether the model read the reverse complement.
    lo, hi : int
        The genome window [lo, hi) (0-based; clipped to the sequence).

    Returns
    -------
    positions : numpy.ndarray, shape=(W,)
        1-based genome positions.
    rows : list of (str, numpy.ndarray, shape=(W, 4))
    """
    length = len(rows[0][1])
    g0 = sequence_start(range_start, range_end, length)
    lo, hi = max(lo, g0), min(hi, g0 + length)
    a, b = lo - g0, hi - g0
    if flip:        # position p of the genome window is position length - 1 - p of the read
        a, b = length - b, length - a
    return np.arange(lo + 1, hi + 1), [(name, v[a:b][::-1, ::-1] if flip else v[a:b])
                                       for name, v in rows]


def projected(contrib: np.ndarray, onehot: np.ndarray | None) -> np.ndarray:
    """Each position's total contribution drawn on the base that is there.

    See :func:`kipoi_deeplift.io.scorefile.project`.

    Parameters
    ----------
    contrib : numpy.ndarray, shape=(L, 4)
    onehot : numpy.ndarray, shape=(L, 4), or None

    Returns
    -------
    numpy.ndarray, shape=(L, 4)
        ``contrib`` as it is without a sequence.
    """
    return contrib if onehot is None else sf.project(contrib, onehot)


def draw_logo(ax, values: np.ndarray, positions, ylabel: str) -> None:
    """A logomaker logo of (L, 4) values at ``positions`` on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : numpy.ndarray, shape=(L, 4)
    positions : array-like, shape=(L,)
    ylabel : str
    """
    import logomaker
    import pandas as pd

    df = pd.DataFrame(values, columns=BASES)
    df.index = positions
    logomaker.Logo(df, ax=ax, color_scheme="classic")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel(ylabel)


def logo_figure(h5_path: str, example: int | None = None, region: str | None = None,
                task: str | None = None, input_name: str | None = None):
    """The figure :func:`plot` writes.

    A logo of the contributions of one sequence, and its hypothetical contributions when the
    file has them, under a title naming the model, task, rule, region and strand, wrapped to
    fit.

    Parameters
    ----------
    h5_path : str
    example, region, task, input_name : optional
        As :func:`plot` takes them.

    Returns
    -------
    matplotlib.figure.Figure
        The caller closes it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with sf.ScoreFile(h5_path) as h5:
        input_name, task = h5.pick(input_name, task)
        panels = logo_panels(h5, input_name, task, example, region)
        i = panels["row"]
        delta = float(h5[sf.delta(task)][i])
        pred = float(h5[sf.preds(task)][i])
        model = h5.attrs.get("model", "")
        rule = h5.attrs.get("rule", "")
        maxpool = h5.attrs.get("maxpool", "")
    width = len(panels["positions"])
    height = 2.2 * len(panels["rows"])
    # At least 5 inches: a few bases' logo still gets a title and an axis label that read.
    fig, axes = plt.subplots(len(panels["rows"]), 1, squeeze=False,
                             figsize=(min(24, max(5, 2 + 0.12 * width)), height))
    for ax, (name, values) in zip(axes[:, 0], panels["rows"]):
        draw_logo(ax, values, panels["positions"], name)
    text = (f"model {model} | task {task} | {rule}, maxpool {maxpool}\n{panels['where']}\n"
            f"scored output {pred:.3g}, delta {delta:.3g} (contributions sum to delta)")
    # Wrapped to the axes as laid out; the figure grows by each line beyond a two-line title
    # and a one-line x label (so the logos keep their height), is laid out again, and the
    # title wrapped once more, as the second layout may narrow the axes a little.
    fig.tight_layout()
    for _ in range(2):
        title = fit_title(axes[0, 0], text, fontsize=9)
        fit_label(axes[-1, 0], panels["xlabel"])
        extra = title.get_text().count("\n") + axes[-1, 0].xaxis.label.get_text().count("\n") - 1
        fig.set_size_inches(fig.get_figwidth(), height + 0.17 * max(0, extra))
        fig.tight_layout()
    return fig


def plot(h5_path: str, output: str, example: int | None = None, region: str | None = None,
         task: str | None = None, input_name: str | None = None) -> str:
    """A logo of the contributions of one sequence for one task.

    With its hypothetical contributions when the file has them. The title is wrapped to the
    figure's width (see :func:`logo_figure`).

    Parameters
    ----------
    h5_path : str
        The score file.
    output : str
        The picture to write.
    example : int, optional
        A row of the file (from 0): the logo runs as the model read it, its title names the
        row's genome region (1-based) and strand.
    region : str, optional
        A 1-based region (CHR:START-END, as browsers show it): the logo then runs along the
        genome's + strand with 1-based genome positions.
    task, input_name : str, optional
        Default: the file's first task, its DNA input.

    Returns
    -------
    str
        The path written.
    """
    return save_figure(logo_figure(h5_path, example, region, task, input_name), output)


def save_figure(fig, output: str | Path) -> str:
    """A figure written to ``output`` (its format from the suffix, PNG without one) under a
    temporary name renamed into place, then closed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    output : str or Path

    Returns
    -------
    str
        The path written.
    """
    import matplotlib.pyplot as plt

    try:
        with staged_file(output) as tmp:
            fig.savefig(tmp, dpi=110, format=Path(output).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return str(output)
