"""``plot VARIANTS.h5 --variant ID``: the reference and the alternative allele's logos of one
variant, stacked on one y scale along the genome, the variant's bases shaded, and their
difference below.
"""
from __future__ import annotations

import warnings

import numpy as np

from .plots import along_genome, draw_logo, fit_label, fit_title, save_figure
from .variant_data import VariantsFile

#: The shade of the variant's bases and of its window on the logos.
VARIANT_COLOUR, WINDOW_COLOUR = "tab:red", "tab:blue"
#: Bases drawn: the whole window up to this length, else this many around the variant.
SHOWN = 120


def shown_span(seq_start: int, length: int, pos0: int, shown: int = SHOWN) -> tuple[int, int]:
    """The genome bases drawn: the whole scored window, or ``shown`` bases around the variant.

    Parameters
    ----------
    seq_start, length : int
        The scored window [seq_start, seq_start + length), 0-based.
    pos0 : int
        The variant's first base, 0-based.
    shown : int, optional
        Most bases drawn. Default :data:`SHOWN`.

    Returns
    -------
    lo, hi : int
        0-based, half-open, inside the scored window.
    """
    if length <= shown:
        return seq_start, seq_start + length
    lo = min(max(seq_start, pos0 - shown // 2), seq_start + length - shown)
    return lo, lo + shown


def variant_panels(vf: VariantsFile, i: int, task: str, shown: int = SHOWN,
                   width: int | None = None) -> dict:
    """What the figure of variant ``i`` shows, along the genome's + strand.

    Parameters
    ----------
    vf : VariantsFile
    i : int
        The variant's row.
    task : str
    shown : int, optional
        Most bases drawn (:func:`shown_span`).
    width : int, optional
        Bases of the variant's window, outlined on the logos. Default: the summary table's
        (:attr:`VariantsFile.width`), so the outline is the summary's window.

    Returns
    -------
    dict
        ``{"positions": (W,) 1-based genome positions, "ref", "alt", "diff": (W, 4) values,
        "marks": {"ref": (lo, hi), "alt": (lo, hi)} the allele's bases (1-based, inclusive),
        "window": (lo, hi) 1-based inclusive, "delta_logit", "preds": (ref, alt)}``.
    """
    length, width = vf.length, width or vf.width
    g0 = int(vf.seq_starts()[i])
    pos0 = int(vf.pos[i]) - 1
    lo, hi = shown_span(g0, length, pos0, shown)
    rows = [(a, vf.contrib(a, task, i)) for a in ("ref", "alt")]
    positions, rows = along_genome(rows, g0, g0 + length, False, lo, hi)   # genome orientation
    values = dict(rows)
    w0 = int(vf.windows(task, width)[i])
    ref_p, alt_p = vf.preds("ref", task)[i], vf.preds("alt", task)[i]
    return {"positions": positions, "ref": values["ref"], "alt": values["alt"],
            "diff": values["alt"] - values["ref"],
            "marks": {a: (pos0 + 1, pos0 + len(s)) for a, s in
                      (("ref", vf.ref[i]), ("alt", vf.alt[i]))},
            "window": (w0 + 1, w0 + min(width, length)), "delta_logit": float(alt_p - ref_p),
            "preds": (float(ref_p), float(alt_p))}


def _limits(*values: np.ndarray, room: float = 0.08) -> tuple[float, float]:
    """One y range that holds every logo of ``values`` (stacked letters: positive and
    negative parts summed per position), ``room`` of it left free above (for a label)."""
    top = max(float(np.maximum(v, 0).sum(-1).max()) for v in values)
    bottom = min(float(np.minimum(v, 0).sum(-1).min()) for v in values)
    span = (top - bottom) or 1.0
    return bottom - 0.08 * span, top + room * span


def variant_figure(h5_path: str, variant: str, task: str | None = None, shown: int = SHOWN):
    """The figure ``plot --variant`` writes: REF above ALT on one y scale, ALT - REF below.

    Parameters
    ----------
    h5_path : str
        A variants file.
    variant : str
        An id or ``chrom:pos[:ref:alt]`` (:meth:`VariantsFile.find`).
    task : str, optional
        Default: the file's first.
    shown : int, optional
        Most bases drawn.

    Returns
    -------
    matplotlib.figure.Figure
        The caller closes it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with VariantsFile(h5_path) as vf:
        task = vf.pick(task)
        i = vf.find(variant)
        p = variant_panels(vf, i, task, shown)
        name, model, rule = vf.label(i), vf.model, vf.attrs.get("rule", "")
        vid, chrom = vf.ids[i], str(vf.chrom[i])
    pos = p["positions"]
    fig, axes = plt.subplots(3, 1, figsize=(min(24, max(7, 2 + 0.1 * len(pos))), 7.2),
                             sharex=True, gridspec_kw={"height_ratios": [2, 2, 1.4]})
    ylim = _limits(p["ref"], p["alt"], room=0.25)      # the variant's label above REF
    with warnings.catch_warnings():         # logomaker on an all-zero logo (an allele unused)
        warnings.filterwarnings("ignore", "Attempting to set identical low and high ylims")
        for ax, allele, label in zip(axes, ("ref", "alt"), ("REF", "ALT")):
            draw_logo(ax, p[allele], pos, f"{label} contribution")
            ax.set_ylim(*ylim)
        draw_logo(axes[2], p["diff"], pos, "ALT - REF")
        axes[2].set_ylim(*_limits(p["diff"]))
    for ax, allele in zip(axes, ("ref", "alt", "alt")):
        lo, hi = p["marks"][allele]
        ax.axvspan(lo - 0.5, hi + 0.5, color=VARIANT_COLOUR, alpha=0.15, lw=0)
        ax.axvspan(p["window"][0] - 0.5, p["window"][1] + 0.5, fill=False, lw=0.8, ls="--",
                   edgecolor=WINDOW_COLOUR)
    axes[0].text(p["marks"]["ref"][1] + 0.6, 0.97, name, color=VARIANT_COLOUR, va="top",
                 ha="left", fontsize=9, transform=axes[0].get_xaxis_transform(),
                 bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    axes[0].set_xlim(pos[0] - 0.5, pos[-1] + 0.5)
    text = (f"model {model} | task {task} | {rule}\n{name}" + (f" ({vid})" if vid and vid != "."
                                                               else "") +
            f": delta_logit {p['delta_logit']:+.3g} (logit {p['preds'][0]:.3g} -> "
            f"{p['preds'][1]:.3g})\nshaded red: the variant's bases; dashed blue: its "
            f"{p['window'][1] - p['window'][0] + 1} bp window of largest |ALT - REF|; "
            "REF and ALT share one y scale")
    fig.tight_layout()
    for _ in range(2):
        fit_title(axes[0], text, fontsize=9)
        fit_label(axes[2], f"{chrom} position (1-based, as genome browsers show it; + strand)")
        fig.tight_layout()
    return fig


def plot_variant(h5_path: str, output: str, variant: str, task: str | None = None) -> str:
    """Write the figure of one variant (:func:`variant_figure`).

    Parameters
    ----------
    h5_path : str
        A variants file (``kipoi-deeplift variants``).
    output : str
        The picture (PNG, PDF or SVG), written whole or not at all.
    variant : str
        An id or ``chrom:pos[:ref:alt]``.
    task : str, optional
        Default: the file's first.

    Returns
    -------
    str
        The path written.
    """
    return save_figure(variant_figure(h5_path, variant, task), output)
