"""The comparison report: one self-contained HTML file (images embedded, no network) that a
biologist can send to a colleague.

For several intervals (the most confident, the most disagreeing, or those the user names) it
stacks every file's logo in genome coordinates (1-based, along the + strand) on one shared y
scale per interval, the whole interval where it is at most :data:`WHOLE_UP_TO` bases (else a
window that the page states base by base), with file, task, model and rule in every label;
then a model-by-model agreement heat map, a sortable per-interval table, score distributions,
motifs and sites when given (shaded, with a legend), and each file's provenance as text with
the command that reruns it.

Files are named as ``compare`` prints them (:attr:`Scored.label`: file name and task), so that
a line of the terminal, a column of the TSV and a label of the page point at the same file.
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
from ..io.coordinates import sequence_start
from .plots import along_genome, browser_region, draw_logo, fit_title
from ..io.writers import staged_file

#: Sequences up to this long are drawn whole; longer ones as a window of this many bases
#: around the strongest contribution (at about 6 pixels a base on the page, letters are still
#: told apart; a 1000 bp logo is a smear).
WHOLE_UP_TO = 200

#: The rule for "most disagreeing", as the page states it. An interval whose output barely
#: moves from the reference's has near-zero scores in every file, and near-zero noise
#: correlates poorly: without a floor on |delta|, background intervals (delta +-0.05) were
#: shown as the "most disagreeing".
DISAGREEING_RULE = ("the lowest mean Pearson correlation between the files, among the intervals "
                    "whose mean |delta| is at least the median over all intervals and at least "
                    "a quarter of the largest (where the output barely moves from the "
                    "reference's, every file's scores are near-zero noise, whose disagreement "
                    "means nothing)")

#: How the sites of ``--sites`` are drawn on the logos (and named in their legend).
SITE_COLOUR, SITE_ALPHA = "gold", 0.3


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
        settings = ", ".join(f"{f.label} ({f.rule})" for f in files)
        return f"one model, {models[0]}, in {len(files)} files: {settings}"
    return f"{len(files)} score files of {len(models)} models: " + ", ".join(models)


def disagreement_floor(confidence: np.ndarray) -> float:
    """The smallest mean |delta| an interval needs to be called "most disagreeing" (see
    :data:`DISAGREEING_RULE`): the median over intervals, and at least a quarter of the
    largest (the median alone lets near-zero intervals through where most intervals are
    background)."""
    return float(max(np.median(confidence), 0.25 * np.max(confidence)))


def choose_intervals(files: list[Scored], rows: list[dict], wanted: list[int] | None = None,
                     n: int = 4) -> list[tuple[int, str]]:
    """(row, why chosen): the rows given, else the most confident (largest mean |delta| over
    the files) and the most disagreeing (lowest mean Pearson over the pairs, among intervals
    whose mean |delta| reaches :func:`disagreement_floor`), alternately, ``n`` in all."""
    total = files[0].per_base.shape[0]
    if wanted:
        return [(i, "chosen") for i in wanted]
    confidence = np.mean([np.abs(f.delta) for f in files], axis=0)
    agreement = mean_pearson(rows)
    confident = list(np.argsort(-confidence, kind="stable"))
    floor = disagreement_floor(confidence)
    disagreeing = [i for i in np.argsort(agreement, kind="stable") if confidence[i] >= floor]
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


def mean_pearson(rows: list[dict]) -> np.ndarray:
    """Per interval (in file order), the mean Pearson correlation over the pairs of files; 1
    where no pair has one (constant scores)."""
    # By pair, in row order (not by the interval's name: two rows may share coordinates).
    per_pair: dict[tuple, list] = {}
    for r in rows:
        if r["interval"] != "all":
            per_pair.setdefault((r["model_a"], r["model_b"]), []).append(r["pearson"])
    table = np.array(list(per_pair.values()), dtype=np.float64)       # (pairs, N)
    out = np.ones(table.shape[1])
    some = ~np.all(np.isnan(table), axis=0)
    out[some] = np.nanmean(table[:, some], axis=0)
    return out


def shown_window(files: list[Scored], i: int, width: int | None) -> tuple[int, int]:
    """The part [lo, hi) of sequence ``i`` drawn (positions as the model read it): all of it
    when ``width`` is None and the sequence is at most :data:`WHOLE_UP_TO` bases, or when
    ``width`` covers it; else ``width`` (default :data:`WHOLE_UP_TO`) bases around the
    strongest 8 bp of any file."""
    length = files[0].per_base.shape[1]
    if width is None:
        width = length if length <= WHOLE_UP_TO else WHOLE_UP_TO
    if width >= length:
        return 0, length
    strength = sum(np.abs(np.convolve(f.per_base[i], np.ones(8), "same")) for f in files)
    centre = int(np.argmax(strength))
    lo = max(0, min(centre - width // 2, length - width))
    return lo, lo + width


def _sequence_region(f: Scored, i: int) -> tuple[str, int, int] | None:
    """(chrom, start, end) of the whole scored sequence ``i`` in the genome (0-based), where
    the file has ranges: centred in its range where the two lengths differ."""
    if f.ranges is None or "start" not in f.ranges:
        return None
    length = f.per_base.shape[1]
    g0 = sequence_start(int(f.ranges["start"][i]), int(f.ranges["end"][i]), length)
    return str(f.ranges["chr"][i]), g0, g0 + length


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
        draw_logo(ax, values, positions, "contribution")
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
    return (f"<h3>{html.escape(f.title)}</h3><dl>{''.join(items)}</dl>"
            + (f"<p>Rerun:</p>{_command_block(rerun)}" if rerun else ""))


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


def _motifs_html(directory: str) -> str:
    """The patterns table of a ``kipoi-deeplift motifs`` directory with its logos, and which
    patterns each sequence uses."""
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


def _files_table(files: list[Scored]) -> str:
    """The key to every label of the page: label, path, model, task, rule."""
    esc = html.escape
    body = "".join(f"<tr><td>{esc(f.label)}</td><td><code>{esc(f.path)}</code></td>"
                   f"<td>{esc(f.model)}</td><td>{esc(f.task)}</td><td>{esc(f.rule)}</td></tr>"
                   for f in files)
    return ("<table><tr><th>label</th><th>file</th><th>model</th><th>task</th><th>rule</th>"
            f"</tr>{body}</table>")


def _sites_label(site_rows: list[tuple[str, int, int, str]], path: str) -> str:
    """The legend's words for the shaded sites: the BED's name and the task(s) its sites were
    called for (the second field of a ``kipoi-deeplift sites`` name)."""
    tasks = sorted({name.split("|")[1] for *_, name in site_rows if name.count("|") >= 2})
    return f"site in {Path(path).name}" + (f", task {', '.join(tasks)}" if tasks else "")


def write_report(files: list[Scored], rows: list[dict], path: str,
                 examples: list[int] | None = None, window: int | None = None,
                 n_intervals: int = 4, motifs: str | None = None,
                 sites: str | None = None) -> str:
    """Write the HTML report to ``path`` (temporary name, renamed when complete).

    ``examples``: rows to show (default: chosen by :func:`choose_intervals`); ``window``: bases
    shown per interval (default: the whole interval up to :data:`WHOLE_UP_TO` bases, see
    :func:`shown_window`; the page states what is shown of each); ``motifs``: a
    ``kipoi-deeplift motifs`` directory; ``sites``: a BED of sites (``kipoi-deeplift
    sites``), shaded on the logos with a legend.
    """
    esc = html.escape
    site_rows = _read_sites(sites) if sites else []
    sites_label = _sites_label(site_rows, sites) if sites else ""
    first = files[0]
    n, length = first.per_base.shape
    confidence = np.mean([np.abs(f.delta) for f in files], axis=0)
    agreement = mean_pearson(rows)
    sections, cut = [], []
    for i, why in choose_intervals(files, rows, examples, n_intervals):
        chrom = first.ranges["chr"][i] if first.ranges is not None else None
        shown = [(a, b, name) for c, a, b, name in site_rows if c == chrom] \
            if sites else None
        png, region, bases = _interval_figure(files, i, window, shown, sites_label)
        whole = _sequence_region(first, i)
        where = browser_region(*whole) if whole else f"row {i}"
        name = ""
        if first.ranges is not None and "id" in first.ranges:
            name = f", {first.ranges['id'][i]}"
        if why == "most confident":
            why += f": mean |delta| {confidence[i]:.3g}"
        elif why == "most disagreeing":
            why += f": mean Pearson {agreement[i]:.2f}, mean |delta| {confidence[i]:.3g}"
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
    if cut:
        shown_text = ("Each logo shows the bases stated above it, for some intervals a window "
                      "of the interval only")
    else:
        shown_text = "Each logo shows every base of its interval"
    along = ("along the genome's + strand with 1-based positions as genome browsers show them"
             if _sequence_region(first, 0) else
             "along each sequence as the model read it, positions 1-based (the files have no "
             "genome coordinates)")
    chosen_text = ("" if examples else
                   f" The intervals shown are, alternately, the most confident (largest mean "
                   f"|delta| over the files) and the most disagreeing: {DISAGREEING_RULE}; "
                   f"here a mean |delta| of at least {disagreement_floor(confidence):.3g}.")
    summary = [r for r in rows if r["interval"] == "all"]
    cols = [c for c in COLUMNS if c not in ("interval", "top_site_a", "top_site_b")]
    table = "".join("<tr>" + "".join(f"<td>{_cell(r[c])}</td>" for c in cols) + "</tr>"
                    for r in summary)
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols)
    extra = ""
    if motifs:
        extra += f"<h2>Motifs (TF-MoDISco, {esc(first.model)})</h2>{_motifs_html(motifs)}"
    if sites:
        extra += (f"<h2>Sites</h2><p>{len(site_rows)} sites from <code>{esc(sites)}</code>, "
                  f"shaded in {SITE_COLOUR} on the logos above (legend: "
                  f"\u201c{esc(sites_label)}\u201d, with how many fall in the bases shown).</p>")
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
<p>{n} intervals of {length} bp, the same in every file. {shown_text} (each position's
contribution, its total drawn on the base that is there), {along}; the logos of one interval
share one y scale.{chosen_text}</p>
<h2>Files</h2><p class='small'>Every label of this page names a file as
<code>kipoi-deeplift compare</code> prints it and as the TSV's model columns hold it: file name
and task.</p>
{_files_table(files)}
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
