"""The comparison report: one self-contained HTML file (images embedded, no network) that a
biologist can send to a colleague.

For several intervals (the most confident, the most disagreeing, or those the user names) it
stacks every file's logo in genome coordinates (1-based, along the + strand) on one shared y
scale per interval, the whole interval where it is at most :data:`WHOLE_UP_TO` bases (else a
window that the page states base by base), with file, task, model and rule in every label;
then a model-by-model agreement heat map, a sortable per-interval table, score distributions,
motifs and sites when given (shaded, with a legend), and each file's provenance as text with
the command that reruns it.

Which intervals and bases are shown: :mod:`kipoi_deeplift.analysis.report_intervals`; the
HTML: :mod:`kipoi_deeplift.analysis.report_html`; the pictures and the page: here.

Files are named as ``compare`` prints them (:attr:`Scored.label`: file name and task), so that
a line of the terminal, a column of the TSV and a label of the page point at the same file.
"""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from ..io.coordinates import sequence_start
from ..io.staging import staged_file
from .compare import Scored, agreement_matrix
from .plots import along_genome, browser_region, draw_logo, fit_title
from .report_html import (agreement_html, document, extras_html, files_table, interval_table,
                          motifs_html, provenance_html, read_sites, sites_caption)
from .report_intervals import (DISAGREEING_RULE, SCALE_LABEL, WHOLE_UP_TO,  # noqa: F401
                               choose_intervals, describe_files, disagreement_floor,
                               mean_pearson, scale_html, sequence_region, shown_window)

#: Old private names, imported by tests and by readers of earlier versions.
_motifs_html, _sequence_region = motifs_html, sequence_region

#: How the sites of ``--sites`` (a BED of the ``sites`` command) are drawn on the logos (and
#: named in their legend).
SITE_COLOUR, SITE_ALPHA = "gold", 0.3


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _interval_figure(files: list[Scored], i: int, width: int | None, sites: list | None,
                     sites_label: str = "site") -> tuple:
    """Stacked logos of sequence ``i`` for every file on one y scale; returns (png, region
    shown, how many bases shown). ``sites``: (start, end, name) in genome coordinates,
    shaded, with a legend entry ``sites_label``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    first = files[0]
    lo, hi = shown_window(files, i, width)
    panels = []
    genome = first.ranges is not None and "start" in first.ranges
    for f in files:
        values = f.contrib[i][lo:hi]
        if genome:
            start, end = int(f.ranges["start"][i]), int(f.ranges["end"][i])
            flip = bool(f.flip[i]) if f.flip is not None else False
            g0 = sequence_start(start, end, f.contrib.shape[1])
            # the model's window [lo, hi) in genome coordinates, then drawn along +
            g_lo = g0 + (f.contrib.shape[1] - hi if flip else lo)
            positions, [(_, values)] = along_genome([("c", f.contrib[i])], start, end, flip,
                                                    g_lo, g_lo + (hi - lo))
        else:
            positions = np.arange(lo + 1, hi + 1)
        panels.append((f, positions, values))
    top = max(float(np.abs(v).sum(-1).max()) for _, _, v in panels) or 1.0
    bottom = min(float(np.minimum(v, 0).sum(-1).min()) for _, _, v in panels)
    # At most 11.6 inches, the page's width at 100 dpi: a wider figure is shrunk by the
    # browser, and its labels with it (a 200 bp window gets about 5 pixels a base).
    fig, axes = plt.subplots(len(files), 1, figsize=(min(11.6, max(8, 2 + 0.1 * (hi - lo))),
                                                     1.7 * len(files) + 0.4), sharex=True,
                             squeeze=False)
    shaded = 0
    for ax, (f, positions, values) in zip(axes[:, 0], panels):
        draw_logo(ax, values, positions, SCALE_LABEL[f.normalize])
        ax.set_xlim(positions[0] - 0.5, positions[-1] + 0.5)
        ax.set_ylim(bottom * 1.1, top * 1.1)
        for s_lo, s_hi, name in sites or []:
            if s_hi > positions[0] - 1 and s_lo < positions[-1]:
                # BED [s_lo, s_hi) is 1-based s_lo + 1 .. s_hi: from the left edge of the
                # first base to the right edge of the last.
                ax.axvspan(max(s_lo + 0.5, positions[0] - 0.5), min(s_hi + 0.5,
                           positions[-1] + 0.5), color=SITE_COLOUR, alpha=SITE_ALPHA, lw=0)
                shaded += 1
    if genome:
        chrom = first.ranges["chr"][i]
        axes[-1, 0].set_xlabel(f"{chrom} position (1-based, as genome browsers show it; "
                               "+ strand)")
        region = browser_region(str(chrom), int(panels[0][1][0]) - 1, int(panels[0][1][-1]))
    else:
        axes[-1, 0].set_xlabel("position in the sequence (1-based)")
        region = f"positions {lo + 1}-{hi}"
    legend = None
    if sites is not None:
        # The legend sits above the top logo, right of its title, where it hides no letter.
        n_here = shaded // len(files)
        handle = Patch(color=SITE_COLOUR, alpha=SITE_ALPHA, label=f"{sites_label}: {n_here} here")
        legend = axes[0, 0].legend(handles=[handle], loc="lower right", bbox_to_anchor=(1, 1),
                                   fontsize=8, frameon=False, borderaxespad=0.2)
    fig.tight_layout()
    # Titles wrapped to their logo's width (the top one beside the legend): a long path
    # would otherwise run off the picture or under the legend.
    reserve = legend.get_window_extent(fig.canvas.get_renderer()).width + 10 if legend else 0
    for k, (ax, (f, _, _)) in enumerate(zip(axes[:, 0], panels)):
        fit_title(ax, f.title, fontsize=9, loc="left", reserve_px=reserve if k == 0 else 0)
    fig.tight_layout()
    return _png(fig), region, hi - lo


def _agreement_figure(files: list[Scored], rows: list[dict]) -> str:
    import matplotlib.pyplot as plt

    m = agreement_matrix(files, rows)
    labels = [f"{f.label}\n{f.model}, {f.rule}" for f in files]
    fig, ax = plt.subplots(figsize=(5 + 1.1 * len(files), 3 + 0.8 * len(files)))
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(files)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(files)))
    ax.set_yticklabels(labels, fontsize=7)
    for a in range(len(files)):
        for b in range(len(files)):
            ax.text(b, a, f"{m[a, b]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(m[a, b]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="mean Pearson r of per-base scores")
    fig.tight_layout()
    return _png(fig)


def _distribution_figure(files: list[Scored]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    for f in files:
        ax.hist(f.per_base.ravel(), bins=80, histtype="step", density=True,
                label=f.title)
    ax.set_yscale("log")
    ax.set_xlabel(f"per-base score (the position's {SCALE_LABEL[files[0].normalize]})")
    ax.set_ylabel("density (log scale)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _interval_sections(files: list[Scored], rows: list[dict], examples: list[int] | None,
                       n_intervals: int, window: int | None, site_rows: list | None,
                       sites_label: str, confidence: np.ndarray) -> tuple[list[str], list[int]]:
    """One section per interval shown (heading, what is shown, outputs, logos); returns the
    sections and the rows drawn cut to a window. ``site_rows``: the sites BED's lines (None
    without one)."""
    esc = html.escape
    first = files[0]
    length = first.per_base.shape[1]
    agreement = mean_pearson(rows)
    sections, cut = [], []
    for i, why in choose_intervals(files, rows, examples, n_intervals):
        chrom = first.ranges["chr"][i] if first.ranges is not None else None
        shown = [(a, b, name) for c, a, b, name in site_rows if c == chrom] \
            if site_rows is not None else None
        png, region, bases = _interval_figure(files, i, window, shown, sites_label)
        whole = sequence_region(first, i)
        where = browser_region(*whole) if whole else f"row {i}"
        name = ""
        if first.ranges is not None and "id" in first.ranges:
            name = f", {first.ranges['id'][i]}"
        if why == "most confident":
            why += f": {_size(files)} {confidence[i]:.3g}"
        elif why == "most disagreeing":
            why += f": mean Pearson {agreement[i]:.2f}, {_size(files)} {confidence[i]:.3g}"
        if bases == length:
            what = f"Shown: the whole interval, {esc(where)} ({length} bp)."
        else:
            cut.append(i)
            what = (f"Shown: {esc(region)}, {bases} of the interval's {length} bp (the {bases} "
                    "bp around the strongest contribution of any file); the rest of the "
                    "interval is not drawn.")
        outputs = "; ".join(f"{esc(f.label)}: output {float(f.preds[i]):.3g}, delta "
                            f"{float(f.delta[i]):.3g}" for f in files)
        heading = f"{where} (row {i}{name}; {why})" if whole else f"row {i}{name} ({why})"
        sections.append(f"<h3>{esc(heading)}</h3>"
                        f"<p class='small'>{what} {outputs}</p>"
                        f"<img alt='logos of row {i}' src='data:image/png;base64,{png}'>")
    return sections, cut


def _size(files: list[Scored]) -> str:
    """What the report's interval choice measures: mean |delta|, or with --normalize mean
    |delta| relative to each file's median (see :attr:`Scored.confidence`)."""
    return "mean |delta|" if files[0].normalize == "none" else "mean |delta| / file median"


def _intro(files: list[Scored], cut: list[int], examples: list[int] | None,
           confidence: np.ndarray) -> str:
    """The page's heading and first paragraph: what is compared, what each logo shows and
    how the intervals were chosen."""
    n, length = files[0].per_base.shape
    if cut:
        shown_text = ("Each logo shows the bases stated above it, for some intervals a window "
                      "of the interval only")
    else:
        shown_text = "Each logo shows every base of its interval"
    along = ("along the genome's + strand with 1-based positions as genome browsers show them"
             if sequence_region(files[0], 0) else
             "along each sequence as the model read it, positions 1-based (the files have no "
             "genome coordinates)")
    chosen_text = ("" if examples else
                   f" The intervals shown are, alternately, the most confident (largest "
                   f"{_size(files)} over the files) and the most disagreeing: {DISAGREEING_RULE}; "
                   f"here a {_size(files)} of at least {disagreement_floor(confidence):.3g}.")
    return f"""<h1>DeepLIFT report: {html.escape(describe_files(files))}</h1>
<p>{n} intervals of {length} bp, the same in every file. {shown_text} (each position's
contribution, its total drawn on the base that is there), {along}; the logos of one interval
share one y scale.{chosen_text}</p>{scale_html(files)}"""


def write_report(files: list[Scored], rows: list[dict], path: str,
                 examples: list[int] | None = None, window: int | None = None,
                 n_intervals: int = 4, motifs: str | None = None,
                 sites: str | None = None) -> str:
    """Write the HTML report to ``path`` (temporary name, renamed when complete).

    Parameters
    ----------
    files : list of Scored
        The files compared (:func:`~kipoi_deeplift.analysis.compare.compare`).
    rows : list of dict
        Their comparison rows, as ``compare`` returns them.
    path : str
        The HTML file to write.
    examples : list of int, optional
        Rows to show (default: chosen by :func:`choose_intervals`).
    window : int, optional
        Bases shown per interval (default: the whole interval up to :data:`WHOLE_UP_TO`
        bases, see :func:`shown_window`; the page states what is shown of each).
    n_intervals : int, optional
        Intervals shown when ``examples`` is not given.
    motifs : str, optional
        A ``kipoi-deeplift motifs`` directory.
    sites : str, optional
        A BED of sites (``kipoi-deeplift sites``), shaded on the logos with a legend.

    Returns
    -------
    str
        ``path``.
    """
    site_rows = read_sites(sites) if sites else []
    sites_label = sites_caption(site_rows, sites) if sites else ""
    confidence = np.mean([f.confidence for f in files], axis=0)
    # Pictures in the page's order: the interval logos, the heat map, the distributions.
    sections, cut = _interval_sections(files, rows, examples, n_intervals, window,
                                       site_rows if sites else None, sites_label, confidence)
    body = "\n".join([
        _intro(files, cut, examples, confidence),
        "<h2>Files</h2><p class='small'>Every label of this page names a file as\n"
        "<code>kipoi-deeplift compare</code> prints it and as the TSV's model columns hold it: "
        "file name\nand task.</p>",
        files_table(files),
        f"<h2>Intervals</h2>{''.join(sections)}",
        agreement_html(_agreement_figure(files, rows), rows),
        "<h2>Every interval</h2><p class='small'>Click a column's header to sort by it.</p>",
        interval_table(files, rows),
        "<h2>Score distributions</h2>",
        '<img alt="score distributions" src="data:image/png;base64,'
        f'{_distribution_figure(files)}">',
        extras_html(files[0].model, motifs, sites, len(site_rows), sites_label, SITE_COLOUR),
        "<h2>How each file was made (and how to rerun it)</h2>",
        "".join(provenance_html(f) for f in files)])
    with staged_file(path) as tmp:
        tmp.write_text(document(body))
    return str(path)
