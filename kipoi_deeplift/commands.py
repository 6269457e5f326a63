"""The sub-commands after ``score``: each one's parser (``_x_parser(sub)``) and runner
(``_run_x(args)``), in the order ``kipoi-deeplift --help`` lists them (:func:`add_parsers`).

The entry points, the error contract and ``score`` itself are in :mod:`kipoi_deeplift.cli`.
Nothing here imports TensorFlow, numpy or Kipoi before a command runs.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path


def _task_args(p) -> None:
    """--task and --input of the commands that read one task of a score file."""
    p.add_argument("--task", default=None, help="default: the first task in the file")
    p.add_argument("--input", default=None, help="default: the DNA input")


def _plot_parser(sub):
    p = sub.add_parser("plot", help="a sequence logo of one scored sequence, or of one "
                                    "variant's two alleles")
    p.add_argument("h5", help="a file written by `kipoi-deeplift score` (with --example or "
                              "--region), or by `kipoi-deeplift variants` (with --variant)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--example", type=int, help="row of the sequence in the file (from 0)")
    where.add_argument("--region", help="CHR:START-END, 1-based as a genome browser shows it "
                       "(the first scored interval overlapping; drawn along the + strand)")
    where.add_argument("--variant", metavar="ID",
                       help="a variants file's variant: its id, or CHROM:POS[:REF:ALT] "
                            "(1-based, as in the VCF); draws REF above ALT on one y scale, "
                            "the variant's bases shaded, ALT - REF below")
    _task_args(p)
    p.add_argument("-o", "--output", required=True, help="PNG (or PDF, SVG) to write")
    p.set_defaults(run=_run_plot)


def _run_plot(a) -> int:
    from .analysis.variant_data import is_variants_file
    from .errors import UserError

    if is_variants_file(a.h5):
        if a.variant is None:
            raise UserError(f"{a.h5} is a variants file: name the variant to draw with "
                            "--variant ID (its id, or CHROM:POS[:REF:ALT])")
        from .analysis.variant_plot import plot_variant

        print(f"wrote {plot_variant(a.h5, a.output, a.variant, a.task)}")
        return 0
    if a.variant is not None:
        raise UserError(f"--variant draws a file of `kipoi-deeplift variants`; {a.h5} is not "
                        "one: give --example ROW or --region CHR:START-END")
    if a.example is None and a.region is None:
        raise UserError("give the sequence to draw: --example ROW or --region CHR:START-END")
    from .analysis.plots import plot

    print(f"wrote {plot(a.h5, a.output, a.example, a.region, a.task, a.input)}")
    return 0


def run_scoring(a, run) -> dict:
    """A scoring command's run, as the command line reports it: the options read from the
    parsed flags and checked before TensorFlow starts, then ``run(options)``; notes (stale files
    removed, a run to resume) printed as ``note:`` lines even when it fails, convergence
    warnings as ``warning:`` lines.

    Parameters
    ----------
    a : argparse.Namespace
        The parsed command line (the option table's flags and ``debug``).
    run : callable
        ``run(options) -> dict``: the command's work (``score``, ``variants``).

    Returns
    -------
    dict
        ``run``'s result.
    """
    from .kipoi import options as options_lib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            options = options_lib.from_args(a)
            options.check()         # before TensorFlow starts: a wrong flag fails at once
            if not a.debug:
                from .quiet import quiet_tensorflow_start

                quiet_tensorflow_start()
            res = run(options)
        finally:
            for w in caught:
                if w.category.__name__ == "Notice":
                    print(f"note: {w.message}", file=sys.stderr)
    for w in caught:
        if w.category.__name__ == "ConvergenceWarning":
            print(f"warning: {w.message}", file=sys.stderr)
    return res


def _variants_parser(sub):
    p = sub.add_parser("variants", help="the effect of VCF variants on a DNA model, explained: "
                                        "REF and ALT scored against the same references",
                       description="Score each variant of a VCF with MODEL (a model whose only "
                                   "input is one-hot DNA): a window of the model's length "
                                   "centred on the variant is read from the FASTA with the "
                                   "REF allele (checked against it) and with each ALT allele, "
                                   "both explained against the REF sequence's references, so "
                                   "per task delta_alt - delta_ref = f(alt) - f(ref) at the "
                                   "logit. SNVs and MNVs are scored; indels, symbolic ALTs, "
                                   "REF mismatches and windows off the chromosome are listed "
                                   "in the summary with the reason.")
    p.add_argument("model", nargs="+", metavar="MODEL",
                   help="Kipoi model name or model directory; several: an ensemble (their "
                        "means, as score writes them)")
    p.add_argument("--vcf", required=True, help="the variants: FILE.vcf or FILE.vcf.gz")
    p.add_argument("--fasta", required=True, help="the genome the VCF refers to")
    p.add_argument("-o", "--output", required=True,
                   help="HDF5 file to write (/variants, /ref, /alt, /metadata/ranges)")
    p.add_argument("--summary", default=None, metavar="OUT.tsv",
                   help="also write one row per variant and task (logits, delta_logit, the "
                        "window where the alleles' contributions differ most; variants not "
                        "scored with the reason)")
    p.add_argument("--bigwig", default=None, metavar="PREFIX",
                   help="also write PREFIX.<task>.{ref,alt,alt_minus_ref}.bw (per-base "
                        "contributions; where windows overlap, their mean)")
    p.add_argument("--width", type=int, default=10,
                   help="bases of the summary's window (default: 10)")
    p.add_argument("--motifs", default=None, metavar="DIR",
                   help="a `kipoi-deeplift motifs` directory: the summary names the pattern at "
                        "each window and whether the ALT weakens or creates it")
    from .kipoi.options import VARIANT_OPTIONS, add_flags

    add_flags(p, VARIANT_OPTIONS)
    p.set_defaults(run=_run_variants)


def _run_variants(a) -> int:
    def run(options):
        from .kipoi.variants import variants

        return variants(a.model, a.vcf, a.fasta, a.output, a.summary, a.bigwig, a.width,
                        a.motifs, options)

    res = run_scoring(a, run)
    from .kipoi.variants import summary_lines

    mismatched = res["not_scored"].get("REF mismatch", 0)
    if mismatched:
        print(f"note: {mismatched} variant(s) whose REF differs from the FASTA were not scored "
              "(see the summary's status column)", file=sys.stderr)
    print("\n".join(summary_lines(res)))
    return 0


def _compare_parser(sub):
    p = sub.add_parser("compare", help="compare score files of several models on the same "
                                       "intervals, or variants files of several models: TSV "
                                       "and an HTML report")
    p.add_argument("files", nargs="+", metavar="OUT.h5[:TASK]",
                   help="files written by `score` (a task after a colon; default the first), "
                        "or all written by `variants` (variants matched by chrom, pos, ref "
                        "and alt; tasks by name, else the first of each)")
    p.add_argument("-o", "--output", required=True, help="the HTML report to write")
    p.add_argument("--tsv", default=None, help="also write one row per (model pair, interval) "
                                               "and a summary row per pair")
    p.add_argument("--top-k", type=int, default=10,
                   help="how many top-scoring positions of each interval the Jaccard overlap "
                        "compares (default: 10)")
    p.add_argument("--example", type=int, action="append", default=None, metavar="ROW",
                   help="a row (from 0) whose logos the report shows; repeat for several "
                        "(default: the most confident and the most disagreeing intervals)")
    p.add_argument("--intervals", type=int, default=4,
                   help="how many intervals the report shows when --example is not given "
                        "(default: 4, the most confident and the most disagreeing in turn)")
    p.add_argument("--motifs", default=None,
                   help="a `kipoi-deeplift motifs` directory (of the first file) to show")
    p.add_argument("--sites", default=None,
                   help="a BED of sites (`kipoi-deeplift sites`) to shade on the logos")
    p.add_argument("--normalize", choices=("none", "delta", "l1"), default="none",
                   help="put the files on a common scale first: each interval's contributions "
                        "divided by its |delta| (delta) or by their L1 norm (l1), per file "
                        "(default: none); for models with different output scales or cell "
                        "types. Correlations and top windows do not change; the report's "
                        "logos and chosen intervals do")
    p.add_argument("--width", type=int, default=10,
                   help="variants files: bases of each variant's window, where |ALT - REF| "
                        "contributions sum highest (default: 10)")
    p.set_defaults(run=_run_compare)


def _run_compare(a) -> int:
    from .analysis.compare import compare, write_tsv
    from .analysis.variant_data import is_variants_file
    from .errors import UserError
    from .analysis.report import write_report

    kinds = [is_variants_file(s if ".h5:" not in s else s.partition(".h5:")[0] + ".h5")
             for s in a.files]
    if any(kinds):
        if not all(kinds):
            raise UserError("compare takes score files or variants files, not both: "
                            + ", ".join(f"{s} is a {'variants' if k else 'score'} file"
                                        for s, k in zip(a.files, kinds)))
        return _run_compare_variants(a)

    files, rows = compare(a.files, top_k=a.top_k, normalize=a.normalize)
    n = files[0].per_base.shape[0]
    for row in a.example or []:
        if not 0 <= row < n:
            raise UserError(f"--example {row} is not a row of the files: they hold rows 0 to "
                            f"{n - 1}")
    if a.intervals < 1:
        raise UserError(f"--intervals {a.intervals}: give at least 1")
    for flag, where, is_ok in (("--motifs", a.motifs, lambda q: (q / "patterns.tsv").exists()),
                               ("--sites", a.sites, lambda q: q.is_file())):
        if where is not None and not is_ok(Path(where)):
            raise UserError(f"{flag} {where}: not found (write it with `kipoi-deeplift "
                            f"{flag[2:]}`)")
    if a.tsv:
        write_tsv(rows, a.tsv)
        print(f"wrote {a.tsv}")
    written = write_report(files, rows, a.output, examples=a.example,
                           n_intervals=a.intervals, motifs=a.motifs, sites=a.sites)
    print(f"wrote {written}")
    if a.normalize != "none":
        left = sum(f.unscaled for f in files)
        print(f"contributions divided by each interval's "
              f"{'|delta|' if a.normalize == 'delta' else 'L1 norm'} in its own file"
              + (f" ({left} interval(s) with a zero or non-finite divisor left as they are)"
                 if left else ""))
    for r in rows:
        if r["interval"] == "all":
            print(f"{r['model_a']} vs {r['model_b']}: pearson {r['pearson']:.3f}, spearman "
                  f"{r['spearman']:.3f}, top-{a.top_k} jaccard {r['top_k_jaccard']:.3f}, same "
                  f"top site in {r['top_site_agree']:.0%} of intervals")
    return 0


def _run_compare_variants(a) -> int:
    """compare on variants files (``kipoi-deeplift variants``): agreement of delta_logit."""
    from .analysis.variant_compare import compare_variants, summary_lines, write_tsv
    from .analysis.variant_report import write_variant_report
    from .errors import UserError

    for flag, value in (("--example", a.example), ("--motifs", a.motifs),
                        ("--sites", a.sites)):
        if value:
            raise UserError(f"{flag} is for score files; compare of variants files takes -o, "
                            "--tsv and --width")
    if a.normalize != "none":
        raise UserError("--normalize is for score files: delta_logit is compared as it is "
                        "(correlations do not change with a model's scale)")
    files, rows = compare_variants(a.files, a.width)
    if a.tsv:
        write_tsv(rows, a.tsv)
        print(f"wrote {a.tsv}")
    print(f"wrote {write_variant_report(files, rows, a.output, a.width)}")
    print("\n".join(summary_lines(rows)))
    return 0


def _motifs_parser(sub):
    p = sub.add_parser("motifs", help="TF-MoDISco patterns of a score file, matched to a motif "
                                      "database, and which patterns each sequence uses (needs "
                                      "a file from `score --hypothetical`)",
                       description="Run TF-MoDISco (modisco-lite) on one task's hypothetical "
                                   "contributions, match the patterns to a motif database "
                                   "and tabulate which patterns each sequence uses. The file "
                                   "must come from `kipoi-deeplift score --hypothetical` "
                                   "(without --hypothetical the file has no /hyp_contrib). "
                                   "Needs pip install -e '.[motifs]' (modisco-lite, "
                                   "pyjaspar).")
    p.add_argument("h5", help="a file written by `kipoi-deeplift score --hypothetical`")
    p.add_argument("-o", "--output", required=True, help="directory to write into")
    _task_args(p)
    p.add_argument("--database", default=None,
                   help="match patterns to: jaspar (JASPAR CORE vertebrates, bundled with "
                        "pyjaspar), jaspar:<taxon> (plants, insects, ...) or a MEME file "
                        "(default: none, the patterns are found but not matched)")
    p.add_argument("--max-seqlets", type=int, default=2000,
                   help="most seqlets per sign TF-MoDISco clusters (modisco -n)")
    p.add_argument("--window", type=int, default=None,
                   help="central bases TF-MoDISco reads (default: the sequence, at most 400)")
    # The defaults are analysis.motifs.MAX_Q and MIN_SHARE (not imported here: --help and
    # every other command start without numpy); tests/test_motif_reporting.py checks them.
    p.add_argument("--max-q", type=float, default=0.05, metavar="Q",
                   help="a database match counts only at a Benjamini-Hochberg q-value (over "
                        "the database) at or below Q; above it the pattern reads 'no "
                        "significant match' with its nearest motif and q (default: 0.05)")
    p.add_argument("--min-share", type=float, default=0.1, metavar="SHARE",
                   help="patterns whose seqlets carry less than SHARE of the summed "
                        "|contribution| of all patterns' seqlets are minor: listed and drawn "
                        "apart, after the others, smaller (default: 0.1; noise patterns "
                        "carried 3-6%% in the planted simulations)")
    p.set_defaults(run=_run_motifs)


def _run_motifs(a) -> int:
    from .analysis.motifs import motifs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = motifs(a.h5, a.output, a.task, a.input, a.database, a.max_seqlets,
                         a.window, a.max_q, a.min_share)
        finally:        # why TF-MoDISco found nothing, one line, even when writing fails
            for w in caught:
                if w.category.__name__ == "Notice":
                    print(f"note: {w.message}", file=sys.stderr)
    # Patterns by share of the contribution, the minor ones apart; matches with their q.
    print("\n".join(res["summary"]))
    for f in res["files"]:
        print(f"wrote {f}")
    return 0


def _sites_parser(sub):
    p = sub.add_parser("sites", help="binding sites: windows whose contribution stands out "
                                     "at a stated false discovery rate, as BED")
    p.add_argument("h5", help="a file written by `kipoi-deeplift score` from a BED file")
    p.add_argument("-o", "--output", required=True, help="BED file to write")
    _task_args(p)
    p.add_argument("--fdr", type=float, default=0.05,
                   help="false discovery rate against shuffled scores (default 0.05)")
    p.add_argument("--width", type=int, default=10, help="window width in bases (default 10)")
    p.add_argument("--layer", default=None,
                   help="a first convolution scored with `score --layers NAME`: its neurons "
                        "place each site's centre")
    p.add_argument("--motifs", default=None,
                   help="a directory from `kipoi-deeplift motifs`: name sites by pattern")
    p.set_defaults(run=_run_sites)


def _run_sites(a) -> int:
    from .analysis.sites import sites

    res = sites(a.h5, a.output, a.task, a.input, a.fdr, a.width, a.layer, a.motifs)
    rows = {s.row for s in res["calls"]}     # every sequence that called one, merged or not
    merged = len(res["calls"]) - len(res["sites"])
    joined = f"; {merged} call(s) of overlapping intervals merged" if merged else ""
    print(f"{len(res['sites'])} site(s) called in {len(rows)} sequence(s) for task "
          f"{res['task']} (FDR {res['fdr']}: window sum >= {res['threshold']:.4g}{joined})")
    print(f"wrote {res['output']}")
    return 0


def _merge_parser(sub):
    p = sub.add_parser("merge", help="join the shard files of one `score --shard I/N` run",
                       description="Join the N shard files of one `kipoi-deeplift score "
                                   "--shard I/N` run into the file an unsharded run writes "
                                   "(every shard once, in any order).")
    p.add_argument("shards", nargs="+", metavar="SHARD.h5",
                   help="the shard files (score --shard 1/N ... N/N), each once, in any order")
    p.add_argument("-o", "--output", required=True,
                   help="the merged HDF5 file to write: the rows of every shard in interval "
                        "order, as one unsharded `score` run writes them (required)")
    from .kipoi.options import DERIVED

    DERIVED.add_to(p)
    p.set_defaults(run=_run_merge)


def _run_merge(a) -> int:
    from .io.merge import merge
    from .kipoi.options import DERIVED, same_keys

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = merge(a.shards, a.output, derived=DERIVED.from_args(a), also=same_keys("run"))
    for w in caught:
        if w.category.__name__ == "Notice":
            print(f"note: {w.message}", file=sys.stderr)
    print(f"merged {res['shards']} shards, {res['sequences']} sequences")
    for f in res["files"]:
        print(f"wrote {f}")
    return 0


def _zoo_parser(sub):
    p = sub.add_parser("zoo", help="DeepLIFT-ready configs for published Kipoi models")
    zsub = p.add_subparsers(dest="zoo_command", required=True, metavar="list|show")
    zsub.add_parser("list", help="the configs: what loads, what scores, what was tested")
    show = zsub.add_parser("show", help="one config (by name, or a Kipoi model it covers)")
    show.add_argument("name")
    p.set_defaults(run=_run_zoo)


def _run_zoo(a) -> int:
    from . import zoo

    configs = zoo.load_configs()
    print(zoo.table(configs) if a.zoo_command == "list" else zoo.show(a.name, configs))
    return 0


def _rules_parser(sub):
    p = sub.add_parser("rules", help="the layer types and operations DeepLIFT has rules for",
                       description="Every supported layer type with how multipliers pass it, "
                                   "where RevealCancel applies and whether summation-to-delta "
                                   "holds; then what is ruled on by what it computes. A layer "
                                   "outside both gets a rule with DeepLift(model, rules=...) "
                                   "or kipoi_deeplift.register_rule.")
    p.set_defaults(run=_run_rules)


def _run_rules(a) -> int:
    from .backends.tf.rule_table import table

    print(table())
    return 0


def _kipoi_plugin_parser(sub):
    p = sub.add_parser("kipoi-plugin", help="`kipoi deeplift ...`: the hook that lists this "
                                            "package among Kipoi's plugins")
    p.add_argument("action", choices=("status", "enable", "disable"),
                   help="status: is it installed and does Kipoi list it; enable: (re)write "
                        "its .pth file; disable: remove it")
    p.set_defaults(run=_run_kipoi_plugin)


def _run_kipoi_plugin(a) -> int:
    from . import kipoi_plugin

    print(kipoi_plugin.act(a.action))
    return 0


def add_parsers(sub) -> None:
    """Add every sub-command after ``score`` to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        ``add_subparsers()`` of :func:`kipoi_deeplift.cli.build_parser`: merge, variants,
        compare, plot, motifs, sites, zoo, rules and kipoi-plugin are added in this order (the
        order of ``--help``), each with its runner as ``run``.
    """
    for add in (_merge_parser, _variants_parser, _compare_parser, _plot_parser, _motifs_parser,
                _sites_parser, _zoo_parser, _rules_parser, _kipoi_plugin_parser):
        add(sub)
