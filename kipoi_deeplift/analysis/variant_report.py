"""The HTML report of ``compare`` on variants files: one self-contained page (images embedded)
in the style of the score files' report (:mod:`.report_html`'s page, tables and rerun
commands): the files, per pair a table of the agreement and a scatter plot of delta_logit, the
most discordant variants, and how each file was made.
"""
from __future__ import annotations

import html
import json

import numpy as np

from ..io.staging import staged_file
from .report import _png
from .report_html import command_block, document
from .variant_compare import VariantScores

#: Variants listed per pair in the page's table: those with the largest |delta_logit| in
#: either file (the TSV holds every one).
LISTED = 200


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3g}"
    return html.escape(str(v))


def _scatter(rows: list[dict], summary: dict) -> str:
    """delta_logit of file A against file B for one pair of tasks, as PNG in base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([r["delta_logit_a"] for r in rows])
    y = np.array([r["delta_logit_b"] for r in rows])
    agree = np.array([bool(r["windows_overlap"]) for r in rows])
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.scatter(x[agree], y[agree], s=14, color="tab:blue", label="windows overlap")
    ax.scatter(x[~agree], y[~agree], s=14, color="tab:orange", label="windows apart")
    ax.set_xlabel(f"delta_logit, {summary['file_a']}:{summary['task_a']}", fontsize=8)
    ax.set_ylabel(f"delta_logit, {summary['file_b']}:{summary['task_b']}", fontsize=8)
    ax.set_title(f"{summary['n']} variants: pearson {summary['pearson']:.3f}, spearman "
                 f"{summary['spearman']:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _files_table(files: list[VariantScores]) -> str:
    esc = html.escape
    body = "".join(f"<tr><td>{esc(f.label)}</td><td><code>{esc(f.path)}</code></td>"
                   f"<td>{esc(f.model)}</td><td>{esc(', '.join(f.tasks))}</td>"
                   f"<td>{esc(f.rule)}</td><td>{len(f.keys)}</td></tr>" for f in files)
    return ("<table><tr><th>label</th><th>file</th><th>model</th><th>tasks</th><th>rule</th>"
            f"<th>variants</th></tr>{body}</table>")


def _pair_section(rows: list[dict], summary: dict, k: int) -> str:
    """Heading, agreement table, scatter plot and the most discordant variants of one pair."""
    esc = html.escape
    title = (f"{summary['file_a']}:{summary['task_a']} vs "
             f"{summary['file_b']}:{summary['task_b']}")
    stats = ("<table><tr><th>variants in common</th><th>pearson</th><th>spearman</th>"
             "<th>same sign</th><th>windows overlap</th></tr><tr>"
             + "".join(f"<td>{_cell(summary[c])}</td>" for c in
                       ("n", "pearson", "spearman", "same_sign", "windows_overlap"))
             + "</tr></table>")
    size = [max(abs(r["delta_logit_a"]), abs(r["delta_logit_b"])) for r in rows]
    listed = [rows[i] for i in np.argsort(size, kind="stable")[::-1][:LISTED]]
    cols = ("variant", "chrom", "pos", "ref", "alt", "delta_logit_a", "delta_logit_b",
            "same_sign", "window_a", "window_b", "windows_overlap")
    head = "".join(f"<th onclick='sortBy(this)' title='sort'>{c.replace('_', ' ')}</th>"
                   for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>"
                   for r in listed)
    more = (f" The {LISTED} with the largest |delta_logit| in either file are listed; the TSV "
            "holds every one." if len(rows) > LISTED else "")
    return (f"<h2>{esc(title)}</h2>{stats}"
            f"<img alt='delta_logit scatter {k}' src='data:image/png;base64,"
            f"{_scatter(rows, summary)}'>"
            f"<p class='small'>Click a column's header to sort by it.{more} Windows: 1-based, "
            "as genome browsers show them.</p><div class='scroll'><table class='sortable' "
            f"id='variants{k}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "</div>")


def _provenance(f: VariantScores) -> str:
    esc = html.escape
    items = []
    for key in ("model", "source", "rule", "references", "n_references", "seed", "maxpool",
                "tasks", "kipoi_deeplift_version", "tensorflow_version", "start_time"):
        value = f.attrs.get(key, "")
        if isinstance(value, str) and value.startswith("["):
            try:
                value = ", ".join(map(str, json.loads(value)))
            except json.JSONDecodeError:
                pass
        if value not in ("", None):
            items.append(f"<dt>{esc(key.replace('_', ' '))}</dt><dd>{esc(str(value))}</dd>")
    rerun = str(f.attrs.get("command", ""))
    return (f"<h3>{esc(f.label)} | model {esc(f.model)} | {esc(f.rule)}</h3>"
            f"<dl>{''.join(items)}</dl>" + (f"<p>Rerun:</p>{command_block(rerun)}"
                                             if rerun else ""))


def write_variant_report(files: list[VariantScores], rows: list[dict], path: str,
                         width: int) -> str:
    """Write the report to ``path`` (whole or not at all).

    Parameters
    ----------
    files : list of VariantScores
    rows : list of dict
        :func:`~.variant_compare.compare_variants`'s rows.
    path : str
    width : int
        Bases of each window (said on the page).

    Returns
    -------
    str
        ``path``.
    """
    sections = []
    groups: dict[tuple, list] = {}
    for r in rows:
        key = (r["file_a"], r["file_b"], r["task_a"], r["task_b"])
        if r["variant"] == "all":
            sections.append(_pair_section(groups.get(key, []), r, len(sections)))
        else:
            groups.setdefault(key, []).append(r)
    intro = (f"<h1>Variant effects compared: {html.escape(', '.join(f.label for f in files))}"
             "</h1><p>Variants are matched by chromosome, position, REF and ALT. "
             "delta_logit is the scored output (logit) of ALT minus that of REF. A variant's "
             f"window is the {width} bp where the per-base change |ALT - REF| of the "
             "contributions sums highest; two models' windows overlap where they share a "
             "base. Tasks are paired by name where the files share names, else the first "
             "task of each.</p>")
    body = "\n".join([intro, "<h2>Files</h2>", _files_table(files), *sections,
                      "<h2>How each file was made (and how to rerun it)</h2>",
                      "".join(_provenance(f) for f in files)])
    with staged_file(path) as tmp:
        tmp.write_text(document(body))
    return str(path)
