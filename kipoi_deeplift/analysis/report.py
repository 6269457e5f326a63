"""The comparison report: one self-contained HTML file (images embedded, no network) that a
biologist can send to a colleague.

For several intervals (the most confident, the most disagreeing, or those the user names) it
stacks every file's logo in genome coordinates (1-based, along the + strand) on one shared y
scale per interval, with model, task and rule in every label; then a model-by-model agreement
heat map, a sortable per-interval table, score distributions, motifs and sites when given, and
each file's provenance as text with the command that reruns it.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import shlex
from pathlib import Path

import numpy as np

from .compare import COLUMNS, Scored, agreement_matrix, provenance
from .plots import along_genome, browser_region, draw_logo, sequence_start
from ..io.writers import staged_file


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def describe_files(files: list[Scored]) -> str:
    """What is compared, in words: several models, or one model under several settings."""
    models = sorted({f.model for f in files})
    if len(models) == 1:
        settings = ", ".join(f"{f.task} ({f.rule})" for f in files)
        return f"one model, {models[0]}, scored {len(files)} ways: {settings}"
    return f"{len(files)} score files of {len(models)} models: " + ", ".join(models)


def choose_intervals(files: list[Scored], rows: list[dict], wanted: list[int] | None = None,
                     n: int = 4) -> list[tuple[int, str]]:
    """(row, why chosen): the rows given, else the most confident (largest mean |delta| over
    the files) and the most disagreeing (lowest mean Pearson over the pairs), alternately,
    ``n`` in all."""
    total = files[0].per_base.shape[0]
    if wanted:
        return [(i, "chosen") for i in wanted]
    confidence = np.mean([np.abs(f.delta) for f in files], axis=0)
    per_row: dict[str, list] = {}
    for r in rows:
        if r["interval"] != "all":
            per_row.setdefault(r["interval"], []).append(r["pearson"])
    order = list(dict.fromkeys(r["interval"] for r in rows if r["interval"] != "all"))
    agreement = np.array([np.nanmean(per_row[k]) if not np.all(np.isnan(per_row[k]))
                          else 1.0 for k in order])
    confident = list(np.argsort(-confidence, kind="stable"))
    disagreeing = list(np.argsort(agreement, kind="stable"))
    out: list[tuple[int, str]] = []
    while len(out) < min(n, total) and (confident or disagreeing):
        for queue, why in ((confident, "most confident"), (disagreeing, "most disagreeing")):
            while queue:
                i = int(queue.pop(0))
                if i not in [j for j, _ in out]:
                    out.append((i, why))
                    break
            if len(out) >= min(n, total):
                break
    return out


def _window(files: list[Scored], i: int, width: int) -> tuple[int, int]:
    """The part of sequence ``i`` shown: ``width`` bases around the strongest site of any file
    (positions as the model read them)."""
    length = files[0].per_base.shape[1]
    strength = sum(np.abs(np.convolve(f.per_base[i], np.ones(8), "same")) for f in files)
    centre = int(np.argmax(strength))
    lo = max(0, min(centre - width // 2, length - width))
    return lo, min(length, lo + width)


def _interval_figure(files: list[Scored], i: int, width: int, sites: list | None) -> tuple:
    """Stacked logos of sequence ``i`` for every file on one y scale; returns (png, region)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = files[0]
    lo, hi = _window(files, i, width)
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
    fig, axes = plt.subplots(len(files), 1, figsize=(min(20, 2 + 0.18 * (hi - lo)),
                                                     1.7 * len(files) + 0.4), sharex=True,
                             squeeze=False)
    for ax, (f, positions, values) in zip(axes[:, 0], panels):
        draw_logo(ax, values, positions, "contribution")
        ax.set_xlim(positions[0] - 0.5, positions[-1] + 0.5)
        ax.set_ylim(bottom * 1.1, top * 1.1)
        ax.set_title(f"{f.model} | task {f.task} | {f.rule}", fontsize=8, loc="left")
        for s_lo, s_hi, name in sites or []:
            if s_hi > positions[0] - 1 and s_lo < positions[-1]:
                ax.axvspan(max(s_lo + 0.5, positions[0] - 0.5), min(s_hi + 0.5,
                           positions[-1] + 0.5), color="gold", alpha=0.25, lw=0)
    if genome:
        chrom = first.ranges["chr"][i]
        axes[-1, 0].set_xlabel(f"{chrom} position (1-based, as genome browsers show it; "
                               "+ strand)")
        region = browser_region(str(chrom), int(panels[0][1][0]) - 1, int(panels[0][1][-1]))
    else:
        axes[-1, 0].set_xlabel("position in the sequence (1-based)")
        region = f"row {i}, positions {lo + 1}-{hi}"
    fig.tight_layout()
    return _png(fig), region


def _agreement_figure(files: list[Scored], rows: list[dict]) -> str:
    import matplotlib.pyplot as plt

    m = agreement_matrix(files, rows)
    labels = [f"{f.label}\n{f.rule}" for f in files]
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
                label=f"{f.model} | {f.task} | {f.rule}")
    ax.set_yscale("log")
    ax.set_xlabel("per-base score (the position's contribution)")
    ax.set_ylabel("density (log scale)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def _interval_table(files: list[Scored], rows: list[dict]) -> str:
    """One row per interval: coordinates (1-based), name, each file's scored output and delta,
    and each pair's agreement; sortable by any column (a click on its header)."""
    first = files[0]
    n = first.per_base.shape[0]
    head = ["row", "region (1-based)", "name"]
    for f in files:
        head += [f"output {f.label} ({f.rule})", f"delta {f.label} ({f.rule})"]
    pairs = [r for r in rows if r["interval"] != "all"]
    pair_names = list(dict.fromkeys(f"{r['model_a']} vs {r['model_b']}" for r in pairs))
    head += [f"pearson {p}" for p in pair_names]
    by_pair: dict[str, list] = {}
    for r in pairs:
        by_pair.setdefault(f"{r['model_a']} vs {r['model_b']}", []).append(r["pearson"])
    body = []
    for i in range(n):
        if first.ranges is not None and "start" in first.ranges:
            region = browser_region(str(first.ranges["chr"][i]), int(first.ranges["start"][i]),
                                    int(first.ranges["end"][i]))
            name = first.ranges.get("id", [""] * n)[i] if "id" in first.ranges else ""
        else:
            region, name = "", ""
        cells = [i, region, name]
        for f in files:
            cells += [float(f.preds[i]), float(f.delta[i])]
        cells += [float(by_pair[p][i]) for p in pair_names]
        body.append("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th onclick='sortBy(this)' title='sort'>{html.escape(h)}</th>"
                     for h in head)
    return f"<div class='scroll'><table id='intervals' class='sortable'><thead><tr>" \
           f"{header}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def _command_block(command: str) -> str:
    """A rerun command as it can be pasted: one flag per line, continued with backslashes."""
    try:
        words = shlex.split(command)
    except ValueError:
        return f"<pre>{html.escape(command)}</pre>"
    lines, line = [], []
    for w in words:
        if w.startswith("--") and line:
            lines.append(shlex.join(line))
            line = []
        line.append(w)
    if line:
        lines.append(shlex.join(line))
    return "<pre>" + html.escape(" \\\n    ".join(lines)) + "</pre>"


def _provenance_html(f: Scored) -> str:
    import json

    items = []
    for key, value in provenance(f).items():
        if key == "rerun":
            continue
        if isinstance(value, dict):       # weights: file -> sha256
            value = "; ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, str) and value.startswith(("[", "{")):
            try:
                parsed = json.loads(value)
                value = ", ".join(map(str, parsed)) if isinstance(parsed, list) else \
                    "; ".join(f"{k} = {v}" for k, v in parsed.items())
            except (json.JSONDecodeError, AttributeError):
                pass
        if value in ("", None):
            continue
        items.append(f"<dt>{html.escape(key.replace('_', ' '))}</dt>"
                     f"<dd>{html.escape(str(value))}</dd>")
    rerun = provenance(f).get("rerun", "")
    return (f"<h3>{html.escape(f.model)} | task {html.escape(f.task)} | "
            f"{html.escape(f.rule)}</h3><dl>{''.join(items)}</dl>"
            + (f"<p>Rerun:</p>{_command_block(rerun)}" if rerun else ""))


def _motifs_html(directory: str) -> str:
    """The patterns table of a ``kipoi-deeplift motifs`` directory with its logos, and which
    patterns each sequence uses."""
    d = Path(directory)
    out = []
    with open(d / "patterns.tsv") as fh:
        patterns = list(csv.DictReader(fh, delimiter="\t"))
    for p in patterns:
        logo = d / p["logo"]
        img = (f"<img alt='{html.escape(p['pattern'])} logo' src='data:image/png;base64,"
               f"{base64.b64encode(logo.read_bytes()).decode()}'>" if logo.exists() else "")
        match = (f"best database match {html.escape(p['match_1'])} (p {p['p_1']}, q "
                 f"{p['q_1']})" if p.get("match_1") else "no database match")
        out.append(f"<div class='pattern'><b>{html.escape(p['pattern'])}</b>: "
                   f"{p['seqlets']} seqlets, consensus <code>{html.escape(p['consensus'])}"
                   f"</code>, {match}<br>{img}</div>")
    usage = d / "usage.tsv"
    if usage.exists():
        with open(usage) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        names = sorted({r["pattern"] for r in rows})
        table: dict = {}
        for r in rows:
            table.setdefault(r["row"], {"region": browser_region(r["chr"], int(r["start"]),
                                                                  int(r["end"]))
                                        if r["chr"] else "", "name": r["name"]})
            table[r["row"]][r["pattern"]] = r["share_of_delta"]
        head = "".join(f"<th onclick='sortBy(this)'>{h}</th>" for h in
                       ["row", "region (1-based)", "name"] + [f"{n} share of delta"
                                                              for n in names])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in
                       [row, v["region"], v["name"]] + [v.get(n, "") for n in names]) +
                       "</tr>" for row, v in sorted(table.items(), key=lambda kv: int(kv[0])))
        out.append("<h3>Which motifs each sequence uses</h3><p>The summed contribution of "
                   "each pattern's seqlets in a sequence, as a share of its delta (sort by a "
                   "column to group sequences by the motifs they use).</p>"
                   f"<div class='scroll'><table class='sortable'><thead><tr>{head}</tr>"
                   f"</thead><tbody>{body}</tbody></table></div>")
    return "".join(out)


def _read_sites(path: str) -> list[tuple[str, int, int, str]]:
    out = []
    with open(path) as fh:
        for line in fh:
            if line.startswith(("#", "track", "browser")) or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            out.append((f[0], int(f[1]), int(f[2]), f[3] if len(f) > 3 else ""))
    return out


_SORT_JS = """<script>
function sortBy(th){const table=th.closest('table'),body=table.tBodies[0];
const k=[...th.parentNode.children].indexOf(th);const asc=th.dataset.asc!=='1';
[...th.parentNode.children].forEach(h=>delete h.dataset.asc);th.dataset.asc=asc?'1':'0';
const val=r=>{const t=r.children[k].textContent;const x=parseFloat(t);return isNaN(x)?t:x};
[...body.rows].sort((a,b)=>{const x=val(a),y=val(b);
return (x<y?-1:x>y?1:0)*(asc?1:-1)}).forEach(r=>body.appendChild(r));}
</script>"""


def write_report(files: list[Scored], rows: list[dict], path: str,
                 examples: list[int] | None = None, window: int = 60, n_intervals: int = 4,
                 motifs: str | None = None, sites: str | None = None) -> str:
    """Write the HTML report to ``path`` (temporary name, renamed when complete).

    ``examples``: rows to show (default: chosen by :func:`choose_intervals`); ``window``: bases
    shown per interval; ``motifs``: a ``kipoi-deeplift motifs`` directory; ``sites``: a BED of
    sites (``kipoi-deeplift sites``), shaded on the logos.
    """
    esc = html.escape
    site_rows = _read_sites(sites) if sites else []
    sections = []
    for i, why in choose_intervals(files, rows, examples, n_intervals):
        chrom = files[0].ranges["chr"][i] if files[0].ranges is not None else None
        shown = [(a, b, name) for c, a, b, name in site_rows if c == chrom]
        png, region = _interval_figure(files, i, window, shown)
        name = ""
        if files[0].ranges is not None and "id" in files[0].ranges:
            name = f", {files[0].ranges['id'][i]}"
        outputs = "; ".join(f"{esc(f.model)} | {esc(f.task)} | {esc(f.rule)}: output "
                            f"{float(f.preds[i]):.3g}, delta {float(f.delta[i]):.3g}"
                            for f in files)
        sections.append(f"<h3>{esc(region)} (row {i}{esc(name)}; {why})</h3>"
                        f"<p class='small'>{outputs}</p>"
                        f"<img alt='logos of row {i}' src='data:image/png;base64,{png}'>")
    summary = [r for r in rows if r["interval"] == "all"]
    cols = [c for c in COLUMNS if c not in ("interval", "top_site_a", "top_site_b")]
    table = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>"
                    for r in summary)
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
    first = files[0]
    n, length = first.per_base.shape
    extra = ""
    if motifs:
        extra += f"<h2>Motifs (TF-MoDISco, {esc(first.model)})</h2>{_motifs_html(motifs)}"
    if sites:
        extra += (f"<h2>Sites</h2><p>{len(site_rows)} sites from <code>{esc(sites)}</code>, "
                  "shaded on the logos above.</p>")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>kipoi-deeplift report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}}th{{background:#f3f3f3}}.sortable th{{cursor:pointer;
position:sticky;top:0}}.sortable td{{white-space:nowrap}}.scroll{{max-height:420px;
overflow:auto;margin:1em 0}}.scroll table{{margin:0}}
img{{max-width:100%}}pre{{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}}
dt{{font-weight:bold;font-size:13px}}dd{{margin:0 0 .4em 1.5em;font-size:13px;
overflow-wrap:anywhere}}.small{{font-size:13px;color:#444}}.pattern{{margin:.8em 0}}</style>
</head><body>
<h1>DeepLIFT report: {esc(describe_files(files))}</h1>
<p>{n} intervals of {length} bp, the same in every file. Each logo shows the contribution of
every base (the position's total, drawn on the base that is there), along the genome's + strand
with 1-based positions as genome browsers show them; the logos of one interval share one y
scale.</p>
<h2>Intervals</h2>{''.join(sections)}
<h2>Agreement between the files</h2>
<img alt="agreement heat map" src="data:image/png;base64,{_agreement_figure(files, rows)}">
<table><tr>{head}</tr>{table}</table>
<p class='small'>pearson, spearman: correlation of per-base scores within an interval,
averaged over intervals; top k jaccard: overlap of the highest-scoring positions; top site
agree: fraction of intervals whose highest-scoring window is the same place in both.</p>
<h2>Every interval</h2><p class='small'>Click a column's header to sort by it.</p>
{_interval_table(files, rows)}
<h2>Score distributions</h2>
<img alt="score distributions" src="data:image/png;base64,{_distribution_figure(files)}">
{extra}
<h2>How each file was made (and how to rerun it)</h2>
{''.join(_provenance_html(f) for f in files)}
{_SORT_JS}
</body></html>
"""
    with staged_file(path) as tmp:
        tmp.write_text(doc)
    return str(path)
