"""The comparison report: one self-contained HTML file (images embedded) that opens in a browser
with no network: stacked logos of one region for every model, a model-by-model agreement heat
map, score distributions, the pairwise summary and each file's provenance (with the command that
reruns it)."""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from .compare import COLUMNS, Scored, agreement_matrix, provenance
from .plots import draw_logo, projected
from ..io.writers import staged_file


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(files: list[Scored], rows: list[dict], example: int, window: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    length = files[0].per_base.shape[1]
    # The region: the window around the strongest site of the first model in this interval.
    centre = int(np.argmax(np.abs(np.convolve(files[0].per_base[example], np.ones(8), "same"))))
    lo = max(0, min(centre - window // 2, length - window))
    hi = min(length, lo + window)
    fig, axes = plt.subplots(len(files), 1, figsize=(min(20, 2 + 0.18 * (hi - lo)),
                                                     1.9 * len(files)), sharex=True,
                             squeeze=False)
    for ax, f in zip(axes[:, 0], files):
        values = projected(f.contrib[example], f.inputs[example].astype(float))[lo:hi]
        draw_logo(ax, values, np.arange(lo, hi), f.label)
        ax.set_xlim(lo - 0.5, hi - 0.5)
        ax.yaxis.label.set_size(8)
    axes[-1, 0].set_xlabel("position in the interval")
    fig.tight_layout()
    out["logos"] = _png(fig)

    m = agreement_matrix(files, rows)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * len(files), 2 + 0.8 * len(files)))
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
    labels = [f.label for f in files]
    ax.set_xticks(range(len(files)))
    ax.set_xticklabels(labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(files)))
    ax.set_yticklabels(labels, fontsize=8)
    for i in range(len(files)):
        for j in range(len(files)):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, label="mean Pearson r of per-base scores")
    fig.tight_layout()
    out["heatmap"] = _png(fig)

    fig, ax = plt.subplots(figsize=(7, 3))
    for f in files:
        ax.hist(f.per_base.ravel(), bins=80, histtype="step", label=f.label, density=True)
    ax.set_yscale("log")
    ax.set_xlabel("per-base score (contribution summed over channels)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out["distributions"] = _png(fig)
    return out


def write_report(files: list[Scored], rows: list[dict], path: str, example: int = 0,
                 window: int = 60) -> str:
    """Write the HTML report to ``path`` (temporary name, renamed when complete)."""
    figs = _figures(files, rows, example, window)
    esc = html.escape
    summary = [r for r in rows if r["interval"] == "all"]
    table = "".join(
        "<tr>" + "".join(f"<td>{esc(str(r[c])) if not isinstance(r[c], float) else f'{r[c]:.3f}'}"
                         "</td>" for c in COLUMNS if c not in ("top_site_a", "top_site_b"))
        + "</tr>" for r in summary)
    head = "".join(f"<th>{c}</th>" for c in COLUMNS if c not in ("top_site_a", "top_site_b"))
    prov = ""
    for f in files:
        items = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(str(v))}</code></td></tr>"
                        for k, v in provenance(f).items())
        prov += f"<h3>{esc(f.label)}</h3><table class='prov'>{items}</table>"
    interval = rows[example]["interval"] if rows else str(example)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kipoi-deeplift comparison</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}}img{{max-width:100%}}code{{white-space:pre-wrap;
word-break:break-all}}</style></head><body>
<h1>DeepLIFT comparison of {len(files)} models</h1>
<p>{files[0].per_base.shape[0]} intervals of {files[0].per_base.shape[1]} bp, the same in
every file. Per-base score: the contribution summed over the four channels.</p>
<h2>Contributions of every model, interval {esc(interval)}</h2>
<img alt="logos" src="data:image/png;base64,{figs['logos']}">
<h2>Agreement between models</h2>
<img alt="agreement heat map" src="data:image/png;base64,{figs['heatmap']}">
<table><tr>{head}</tr>{table}</table>
<p>pearson, spearman: correlation of per-base scores within an interval, averaged over
intervals; top_k_jaccard: overlap of the highest-scoring positions; top_site_agree: fraction
of intervals whose highest-scoring window is the same place in both models.</p>
<h2>Score distributions</h2>
<img alt="score distributions" src="data:image/png;base64,{figs['distributions']}">
<h2>Provenance (and how to rerun each file)</h2>{prov}
</body></html>
"""
    with staged_file(path) as tmp:
        tmp.write_text(doc)
    return str(path)
