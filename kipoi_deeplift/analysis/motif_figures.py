"""Pictures of TF-MoDISco's patterns: each pattern's logo and every pattern in one overview,
all on one contribution scale (a pattern at a tenth of another's scale looks a tenth as tall).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from .motif_patterns import Pattern, percent
from .plots import draw_logo, fit_title

def logo_scale(patterns: list[Pattern]) -> tuple[float, float] | None:
    """One y range for every pattern's logo, so that heights compare across patterns.

    The lowest stack of negative and the highest of positive CWM values over all patterns.

    Parameters
    ----------
    patterns : list of Pattern

    Returns
    -------
    tuple of (float, float) or None
        (bottom, top).
    """
    if not patterns:
        return None
    lo = min(float(np.clip(pt.cwm, None, 0).sum(1).min(initial=0.0)) for pt in patterns)
    hi = max(float(np.clip(pt.cwm, 0, None).sum(1).max(initial=0.0)) for pt in patterns)
    if hi - lo <= 0:
        return None
    pad = 0.05 * (hi - lo)
    return lo - (pad if lo < 0 else 0.0), hi + (pad if hi > 0 else 0.0)


def pattern_title(pt: Pattern, max_q: float, min_share: float, minor: bool, sep: str = "; "
           ) -> str:
    """``NAME: SHARE of the contribution[ (minor...)], N seqlets`` and the match text.

    Parameters
    ----------
    pt : Pattern
    max_q : float
        The q-value at which a match counts.
    min_share : float
        The share below which a pattern is minor.
    minor : bool
        Whether ``pt`` is minor.
    sep : str, optional
        What joins the parts. Default ``"; "``.

    Returns
    -------
    str
    """
    share = f"{pt.share:.1%} of the contribution" + (
        f" (minor: below {percent(min_share)})" if minor else "")
    match = pt.match_text(max_q)
    return f"{pt.name}: {share}, {len(pt.seqlets)} seqlets" + (f"{sep}{match}" if match else "")


#: A minor pattern's logo is drawn at this fraction of a major one's size (figure inches).
MINOR_SCALE = 0.6


def logo(path: Path, pt: Pattern, title: str, ylim: tuple[float, float] | None,
          scale: float = 1.0) -> None:
    """The pattern's CWM logo, at ``scale`` of the full size, on the y range ``ylim``.

    Parameters
    ----------
    path : Path
        The picture to write.
    pt : Pattern
        Its ``cwm`` (W, 4) is drawn.
    title : str
    ylim : tuple of (float, float) or None
        From :func:`logo_scale`.
    scale : float, optional
        Default 1.0.
    """
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


def overview(path: Path, major: list[Pattern], minor: list[Pattern], header: str,
              max_q: float, min_share: float, ylim: tuple[float, float] | None) -> None:
    """Every pattern's logo in one picture, on one y range and one base width.

    The major patterns first, full height, then the minor ones under their own heading,
    smaller.

    Parameters
    ----------
    path : Path
        The picture to write.
    major, minor : list of Pattern
    header : str
        The picture's heading.
    max_q, min_share : float
        As :func:`pattern_title` takes them.
    ylim : tuple of (float, float) or None
        From :func:`logo_scale`.
    """
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
        ax.set_title(pattern_title(pt, max_q, min_share, is_minor), fontsize=6 if is_minor else 8,
                     loc="left")

    for pt in major:
        row(pt, False)
    if minor:
        ax = axes.pop(0)
        ax.axis("off")
        ax.text(0, 0.2, f"minor patterns, below {percent(min_share)} of the contribution "
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
