"""The comparison report's HTML: the tables, the provenance, the motifs and sites sections and
the page around them (no pictures: those are drawn in :mod:`kipoi_deeplift.analysis.report`).
"""
from __future__ import annotations

import base64
import csv
import html
import shlex
from pathlib import Path

import numpy as np

from .compare import COLUMNS, Scored, provenance
from .plots import browser_region

def _cell(v) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def interval_table(files: list[Scored], rows: list[dict]) -> str:
    """The intervals table: one row per interval, sortable by any column (a click on its header).

    Parameters
    ----------
    files : list of Scored
    rows : list of dict
        The comparison's rows (:mod:`.compare`); those of single intervals are read.

    Returns
    -------
    str
        HTML: coordinates (1-based), name, each file's scored output and delta, and each pair's
        agreement (Pearson).
    """
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


def command_block(command: str) -> str:
    """A rerun command as it can be pasted: one flag per line, continued with backslashes.

    Parameters
    ----------
    command : str

    Returns
    -------
    str
        A ``<pre>`` block (the command as it is where it does not split as shell words).
    """
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


def provenance_html(f: Scored) -> str:
    """How one file was made, as HTML: its :func:`.compare.provenance` and its rerun command.

    Parameters
    ----------
    f : Scored

    Returns
    -------
    str
        A heading (the file's title), a list of the non-empty items, then the command
        (:func:`command_block`).
    """
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
    return (f"<h3>{html.escape(f.title)}</h3><dl>{''.join(items)}</dl>"
            + (f"<p>Rerun:</p>{command_block(rerun)}" if rerun else ""))


def _share(p: dict) -> str:
    """'12% of the contribution, ' from a patterns.tsv row (empty for older files)."""
    try:
        return f"{100 * float(p['share']):.0f}% of the contribution, "
    except (KeyError, TypeError, ValueError):
        return ""


def _match(p: dict) -> str:
    """A patterns.tsv row's database match as the motifs command states it: significant
    (at its --max-q), no significant match (with the nearest), or not matched."""
    kind = p.get("match")
    if kind == "significant" or (kind is None and p.get("match_1")):
        return (f"best database match {html.escape(p['match_1'])} (p {p['p_1']}, "
                f"q {p['q_1']})")
    if kind == "no significant match" and p.get("best_match"):
        return (f"no significant match (nearest {html.escape(p['best_match'])}, p "
                f"{p['best_p']}, q {p['best_q']})")
    return "not matched against a database" if kind == "not matched" else \
        "no database match"


def motifs_html(directory: str) -> str:
    """The patterns table of a ``kipoi-deeplift motifs`` directory with its logos, and usage.

    Which patterns each sequence uses.

    Parameters
    ----------
    directory : str

    Returns
    -------
    str
        HTML.
    """
    d = Path(directory)
    out = []
    with open(d / "patterns.tsv") as fh:
        patterns = list(csv.DictReader(fh, delimiter="\t"))
    minor_said = False
    for p in patterns:           # in the file's order: by share, minor patterns last
        if p.get("group") == "minor" and not minor_said:
            out.append("<p><i>Minor patterns (each below the share of the contribution "
                       "<code>motifs --min-share</code> set; likely noise):</i></p>")
            minor_said = True
        logo = d / p["logo"]
        img = (f"<img alt='{html.escape(p['pattern'])} logo' src='data:image/png;base64,"
               f"{base64.b64encode(logo.read_bytes()).decode()}'>" if logo.exists() else "")
        out.append(f"<div class='pattern'><b>{html.escape(p['pattern'])}</b>: "
                   f"{_share(p)}{p['seqlets']} seqlets, consensus "
                   f"<code>{html.escape(p['consensus'])}</code>, {_match(p)}<br>{img}</div>")
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


def read_sites(path: str) -> list[tuple[str, int, int, str]]:
    """The lines of a BED file (track, browser and comment lines skipped).

    Parameters
    ----------
    path : str

    Returns
    -------
    list of (str, int, int, str)
        (chrom, start, end, name), name empty where the line has none.
    """
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


def files_table(files: list[Scored]) -> str:
    """The key to every label of the page: label, path, model, task, rule.

    Parameters
    ----------
    files : list of Scored

    Returns
    -------
    str
        An HTML table.
    """
    esc = html.escape
    body = "".join(f"<tr><td>{esc(f.label)}</td><td><code>{esc(f.path)}</code></td>"
                   f"<td>{esc(f.model)}</td><td>{esc(f.task)}</td><td>{esc(f.rule)}</td></tr>"
                   for f in files)
    return ("<table><tr><th>label</th><th>file</th><th>model</th><th>task</th><th>rule</th>"
            f"</tr>{body}</table>")


def sites_caption(site_rows: list[tuple[str, int, int, str]], path: str) -> str:
    """The legend's words for the shaded sites.

    The BED's name and the task(s) its sites were called for (the second field of a
    ``kipoi-deeplift sites`` name).

    Parameters
    ----------
    site_rows : list of (str, int, int, str)
        As :func:`read_sites` returns them.
    path : str
        The BED file.

    Returns
    -------
    str
    """
    tasks = sorted({name.split("|")[1] for *_, name in site_rows if name.count("|") >= 2})
    return f"site in {Path(path).name}" + (f", task {', '.join(tasks)}" if tasks else "")

_STYLE = """<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3}.sortable th{cursor:pointer;
position:sticky;top:0}.sortable td{white-space:nowrap}.scroll{max-height:420px;
overflow:auto;margin:1em 0}.scroll table{margin:0}
img{max-width:100%}pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}
dt{font-weight:bold;font-size:13px}dd{margin:0 0 .4em 1.5em;font-size:13px;
overflow-wrap:anywhere}.small{font-size:13px;color:#444}.pattern{margin:.8em 0}</style>"""


def document(body: str) -> str:
    """The whole page: head (title, style) and ``body``, with the script that sorts tables.

    Tables sort by a click on a column's header.

    Parameters
    ----------
    body : str
        Lines of HTML.

    Returns
    -------
    str
    """
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>kipoi-deeplift '
            f"report</title>\n{_STYLE}\n</head><body>\n{body}\n{_SORT_JS}\n</body></html>\n")


def agreement_html(png: str, rows: list[dict]) -> str:
    """The agreement section: the heat map and the means over intervals of every pair, explained.

    Parameters
    ----------
    png : str
        The heat map, PNG in base64.
    rows : list of dict
        The comparison's rows; those whose ``interval`` is "all" are shown.

    Returns
    -------
    str
    """
    summary = [r for r in rows if r["interval"] == "all"]
    cols = [c for c in COLUMNS if c not in ("interval", "top_site_a", "top_site_b")]
    table = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>"
                    for r in summary)
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
    return f"""<h2>Agreement between the files</h2>
<img alt="agreement heat map" src="data:image/png;base64,{png}">
<table><tr>{head}</tr>{table}</table>
<p class='small'>pearson, spearman: correlation of per-base scores within an interval,
averaged over intervals; top k jaccard: overlap of the highest-scoring positions; top site
agree: fraction of intervals whose highest-scoring window is the same place in both.</p>"""


def extras_html(model: str, motifs: str | None, sites: str | None, n_sites: int,
                sites_label: str, colour: str) -> str:
    """The motifs section and the sites section, where given.

    Parameters
    ----------
    model : str
        Named in the motifs heading.
    motifs : str or None
        A ``kipoi-deeplift motifs`` directory.
    sites : str or None
        A BED of the ``sites`` command.
    n_sites : int
        Its lines.
    sites_label : str
        The legend's words (:func:`sites_caption`).
    colour : str
        The sites' shade on the logos.

    Returns
    -------
    str
        HTML; empty where neither is given.
    """
    esc = html.escape
    extra = ""
    if motifs:
        extra += f"<h2>Motifs (TF-MoDISco, {esc(model)})</h2>{motifs_html(motifs)}"
    if sites:
        extra += (f"<h2>Sites</h2><p>{n_sites} sites from <code>{esc(sites)}</code>, "
                  f"shaded in {colour} on the logos above (legend: "
                  f"\u201c{esc(sites_label)}\u201d, with how many fall in the bases shown).</p>")
    return extra
