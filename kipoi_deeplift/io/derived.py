"""Files derived from a finished score file: one registry row per format.

A format is a function over the finished (staged) score file, a row in :data:`FORMATS`, and
so a flag of ``score`` and ``merge`` (``--<name> PREFIX``), a keyword of
:func:`kipoi_deeplift.score` and of ``merge``, and a word of the recorded rerun command. Adding
a format is adding a row.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from . import scorefile as sf
from ..errors import UserError, describe
from .tables import write_summary, write_top_windows
from .modisco import modisco_arrays, write_npz
from .staging import Staged
from .tracks import chrom_sizes_from, write_bedgraph, write_bigwig

#: ``out(name)`` registers a file the format writes and returns the temporary path to write.
Out = Callable[[str], Path]


@dataclass(frozen=True)
class Format:
    """One derived output: a row of :data:`FORMATS`.

    Parameters
    ----------
    name, help : str
        The format's name (the flag ``--<name>``, the keyword) and the flag's help text.
    example : str
        One of its files for a ``{prefix}``, to check the directory before any work.
    write : callable
        ``write(h5, prefix, tasks, dna, fasta, out)`` writes the files for ``tasks`` (names) of
        the DNA input ``dna`` from the score file ``h5``; ``fasta`` is the dataloader's FASTA or
        None; ``out(name)`` registers a file and returns the temporary path to write.
    needs_ranges, needs_hypothetical : bool, optional
        Whether it needs genome coordinates, hypothetical contributions. Default False.
    metavar : str, optional
        What the flag takes: a prefix (default ``"PREFIX"``), or the file itself.
    """

    name: str
    help: str
    example: str
    write: Callable[[sf.ScoreFile, str, Sequence[str], str, str | None, Out], None]
    needs_ranges: bool = False
    needs_hypothetical: bool = False
    metavar: str = "PREFIX"         # what the flag takes: a prefix, or the file itself


def _bigwig(h5, prefix, tasks, dna, fasta, out):
    sizes = chrom_sizes_from(h5, fasta)
    for task in tasks:
        name = f"{prefix}.{sf.h5_key(task)}.bw"
        write_bigwig(h5, dna, task, out(name), sizes, label=name)


def _bedgraph(h5, prefix, tasks, dna, fasta, out):
    for task in tasks:
        write_bedgraph(h5, dna, task, out(f"{prefix}.{sf.h5_key(task)}.bedGraph"))


#: ``modisco motifs`` flag -> TFMoDISco keyword, for the settings :func:`modisco_settings` picks.
MODISCO_FLAGS = {"-z": "sliding_window_size", "-f": "flank_size", "-t": "trim_to_window_size",
                 "-g": "initial_flank_to_add"}


def modisco_settings(length: int) -> dict:
    """TF-MoDISco settings that fit sequences ``length`` long.

    Below 400 bp seqlet cores are 10 bp trimmed to 15: modisco-lite's defaults (20, 30) found no
    pattern in a 100 bp simulation with a planted 6 bp site in half the sequences; these do.

    Parameters
    ----------
    length : int
        The sequence length L.

    Returns
    -------
    dict
        ``window``: the central part read, at most 400, even (modisco-lite takes ``center ±
        window // 2``, so an odd length is one base short of ``window = length``); below
        400 bp also the TFMoDISco keywords of :data:`MODISCO_FLAGS`.
    """
    out = {"window": min(400, length - length % 2)}
    if length < 400:
        out.update(sliding_window_size=10, flank_size=5, trim_to_window_size=15,
                   initial_flank_to_add=5)
    return out


def modisco_command(prefix: str, task: str | None, length: int) -> str:
    """The ``modisco motifs`` command (modisco-lite) that reads the files :func:`_modisco` writes.

    Parameters
    ----------
    prefix, task : str
        The ``--modisco`` prefix, and the task (``None``: the only one).
    length : int
        The sequence length L.

    Returns
    -------
    str
        The shell command, with ``-n`` (required) and the settings of
        :func:`modisco_settings`.
    """
    import shlex

    stem = prefix if task is None else f"{prefix}.{sf.h5_key(task)}"
    settings = modisco_settings(length)
    extra = [w for flag, key in MODISCO_FLAGS.items() if key in settings
             for w in (flag, str(settings[key]))]
    return shlex.join(["modisco", "motifs", "-s", f"{prefix}.ohe.npz", "-a", f"{stem}.hyp.npz",
                       "-n", "2000", "-w", str(settings["window"]), *extra,
                       "-o", f"{stem}.modisco.h5"])


#: modisco-lite's seqlet sizes where :func:`modisco_settings` keeps its defaults (its
#: ``modisco motifs`` command's ``-z`` and ``-f``).
SEQLET_DEFAULTS = {"sliding_window_size": 20, "flank_size": 5}

#: modisco-lite clusters the seqlets of one sign only when it has more than this many (its
#: TFMoDISco's ``min_metacluster_size``); with no more on both signs it returns no pattern
#: and ``modisco motifs`` writes a results file that holds none, without a word.
MIN_METACLUSTER_SEQLETS = 100

#: modisco-lite's seqlet extraction settings that are not seqlet sizes (what ``modisco
#: motifs`` passes, and its TFMoDISco defaults otherwise): the counts below repeat its run.
_EXTRACTION = {"target_fdr": 0.05, "min_passing_windows_frac": 0.03,
               "max_passing_windows_frac": 0.2, "weak_threshold_for_counting_sign": 0.8}


def _seqlet_sizes(length: int, window: int | None = None) -> tuple[int, int, int, int]:
    """(window read, sliding window, flank, suppression radius) of modisco-lite's seqlet
    extraction on sequences ``length`` long, with the settings of :func:`modisco_settings`
    (``window``: another central window, as ``motifs --window``)."""
    settings = {**SEQLET_DEFAULTS, **modisco_settings(length)}
    w = min(settings["window"] if window is None else int(window), length - length % 2)
    sliding, flank = int(settings["sliding_window_size"]), int(settings["flank_size"])
    return w, sliding, flank, int(0.5 * sliding) + flank


def seqlet_bound(n: int, width: int, sliding: int, flank: int) -> int:
    """The most seqlets modisco-lite's extraction can take from ``n`` sequences.

    A seqlet's start is one of the ``width - sliding + 1`` window positions less ``flank`` at
    each end, and each one taken blanks the positions within ``sliding // 2 + flank`` of it, so
    two are at least that plus one apart.

    Parameters
    ----------
    n, width : int
        Sequences, and bases read of each (the window modisco-lite reads).
    sliding, flank : int
        Its sliding window and flank sizes.

    Returns
    -------
    int
        The bound; 0 where no window fits.
    """
    valid = width - sliding + 1 - 2 * flank
    if valid <= 0:
        return 0
    return n * ((valid - 1) // (int(0.5 * sliding) + flank + 1) + 1)


def count_seqlets(one_hot: np.ndarray, hypothetical: np.ndarray, sliding: int, flank: int
                  ) -> tuple[int, int] | None:
    """(positive, negative) seqlets that modisco-lite's TFMoDISco takes from these sequences.

    By its own extraction with the settings ``modisco motifs`` uses, and split by sign as it
    does (a seqlet's central ``sliding`` bases summed against its threshold). Raises what its
    extraction raises (on a few sequences its null, fit to the windows' sums, can be empty on
    one side: ZeroDivisionError, and TFMoDISco stops).

    Parameters
    ----------
    one_hot, hypothetical : numpy.ndarray, shape=(N, W, 4)
        The window TF-MoDISco reads.
    sliding, flank : int
        Its sliding window and flank sizes.

    Returns
    -------
    tuple of (int, int) or None
        The counts; None without modisco-lite.
    """
    try:
        from modiscolite import extract_seqlets as es
    except ImportError:
        return None
    contrib = np.multiply(one_hot.astype(np.float32), hypothetical.astype(np.float32))
    coords, threshold = es.extract_seqlets(
        attribution_scores=contrib.sum(axis=2), window_size=sliding, flank=flank,
        suppress=int(0.5 * sliding) + flank, **_EXTRACTION)
    pos = neg = 0
    for s in coords:
        attr = float(np.sum(contrib[s.example_idx, s.start + flank:s.end - flank]))
        pos += attr > threshold
        neg += attr < -threshold
    return int(pos), int(neg)


def modisco_shortfall(ohe: np.ndarray, hyp: np.ndarray, window: int | None = None
                      ) -> str | None:
    """Why modisco-lite finds no pattern in these sequences, in a sentence, or None.

    Applies to ``modisco motifs`` with the settings of :func:`modisco_settings`, or
    ``kipoi-deeplift motifs``: no pattern where no sign reaches more than
    :data:`MIN_METACLUSTER_SEQLETS` seqlets. Without modisco-lite only the bound of
    :func:`seqlet_bound` is checked.

    Parameters
    ----------
    ohe, hyp : numpy.ndarray, shape=(N, 4, L)
        As :func:`kipoi_deeplift.io.modisco.modisco_arrays` returns them.
    window : int, optional
        The central bases read (default: as :func:`modisco_settings`).

    Returns
    -------
    str or None
        The reason and what to do; None where it may find some.
    """
    n, _, length = ohe.shape
    w, sliding, flank, suppress = _seqlet_sizes(length, window)
    need = MIN_METACLUSTER_SEQLETS + 1
    rule = (f"and modisco-lite clusters a sign's seqlets only when it has more than "
            f"{MIN_METACLUSTER_SEQLETS}, so its results would hold no pattern")
    # At least min_passing_windows_frac of the windows pass modisco-lite's threshold, and a
    # seqlet blanks at most 2 * suppress + 1 of them: with twice the seqlets needed from that
    # floor alone a sign has enough, and the count is skipped (it costs seconds there).
    floor = _EXTRACTION["min_passing_windows_frac"] * n * (w - sliding + 1) / (2 * suppress + 1)
    if floor >= 2 * need:
        return None
    start = length // 2 - w // 2
    failed = None
    try:
        counts = count_seqlets(ohe[:, :, start:start + w].transpose(0, 2, 1),
                               hyp[:, :, start:start + w].transpose(0, 2, 1), sliding, flank)
    except Exception as e:      # modisco-lite's own run stops here with the same error
        counts, failed = None, e
    if counts is not None:
        if max(counts) >= need:
            return None
        more = (f"score about {int(np.ceil(need * n / max(counts)))} sequences or more (at "
                "this rate)" if max(counts) else "score more sequences")
        return (f"{n} sequence(s) give {counts[0]} positive and {counts[1]} negative seqlets "
                f"(windows whose contribution stands out, as modisco-lite finds them), {rule}; "
                f"{more}")
    # No count (no modisco-lite here, or its extraction failed): what the sizes rule out.
    bound = seqlet_bound(n, w, sliding, flank)
    if bound < need:
        per = bound / max(n, 1)
        more = (f"score more sequences: at least {int(np.ceil(need / per))}, and in "
                "practice several times that (few sequences hold that many)" if per else
                f"use sequences longer than {sliding + 2 * flank} bp")
        return (f"{n} sequence(s) of {w} bp hold at most {bound} seqlets ({sliding} bp "
                f"windows with {flank} bp flanks, {suppress + 1} bp apart), {rule}; {more}")
    if failed is not None:
        return extraction_failed(n, failed)
    return None


def extraction_failed(n: int, error: BaseException) -> str:
    """Why modisco-lite stopped inside its seqlet extraction, and what to do, in a sentence.

    The known case, ZeroDivisionError: its Laplace null is fit around the most common window
    sum, and where many windows share that sum exactly (a model silent almost everywhere; the
    planted-GATA example with 20 references) or there are few windows, the null has no value
    on one side. It depends on the scores' ties, not only on their number.

    Parameters
    ----------
    n : int
        Sequences scored.
    error : BaseException

    Returns
    -------
    str
    """
    return (f"modisco-lite's seqlet extraction stops on these {n} sequence(s) with "
            f"{describe(error, 80)}: the Laplace null it fits around the most common window "
            "sum has no value on one side (many windows share that sum exactly, or there are "
            "too few windows); score more sequences, or with other references "
            "(--n-references, --seed: the ties differ)")


def _modisco(h5, prefix, tasks, dna, fasta, out):
    import warnings

    from ..errors import Notice

    for j, task in enumerate(tasks):
        ohe, hyp = modisco_arrays(h5, dna, task)
        if j == 0:
            write_npz(out(f"{prefix}.ohe.npz"), ohe)
        one = len(tasks) == 1
        write_npz(out(f"{prefix}.hyp.npz" if one else f"{prefix}.{sf.h5_key(task)}.hyp.npz"),
                  hyp)
        warnings.warn(f"TF-MoDISco (modisco-lite) on task {task}: "
                      f"{modisco_command(prefix, None if one else task, ohe.shape[2])}",
                      Notice, stacklevel=2)
        # The command above would write an empty results file without a word: say so here,
        # with the reason and what to do.
        why = modisco_shortfall(ohe, hyp)
        if why:
            warnings.warn(f"TF-MoDISco on task {task} would find no pattern: {why}", Notice,
                          stacklevel=2)


def _summary(h5, path, tasks, dna, fasta, out):
    write_summary(h5, dna, tasks, out(path))


def _top_windows(h5, path, tasks, dna, fasta, out):
    write_top_windows(h5, dna, tasks, out(path))


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("bigwig", "write PREFIX.<task>.bw per-base tracks (genome coordinates)",
           "{prefix}.x.bw", _bigwig, needs_ranges=True),
    Format("bedgraph", "write PREFIX.<task>.bedGraph per-base tracks", "{prefix}.x.bedGraph",
           _bedgraph, needs_ranges=True),
    Format("modisco", "write PREFIX.ohe.npz and PREFIX.hyp.npz for `modisco motifs`",
           "{prefix}.ohe.npz", _modisco, needs_hypothetical=True),
    Format("summary", "write a TSV, one row per interval and task: coordinates, name, strand, "
                      "logit, probability, delta, summation-to-delta error, top window",
           "{prefix}", _summary, metavar="FILE.tsv"),
    Format("sites", "write each interval's top-contributing 10 bp window per task as BED6 "
                    "(genome coordinates, for a browser)",
           "{prefix}", _top_windows, needs_ranges=True, metavar="FILE.bed"),
)}


def requested(derived: Mapping[str, str | None] | None = None, **by_name: str | None
              ) -> dict[str, str]:
    """The formats asked for (``derived`` and keywords merged); UserError for an unknown one.

    Parameters
    ----------
    derived : mapping of str to str or None, optional
        Format name -> prefix; empty prefixes are dropped.
    **by_name : str or None
        The same as keywords (``bigwig=...``).

    Returns
    -------
    dict of str to str
        Format name -> prefix.
    """
    out = {k: v for k, v in (derived or {}).items() if v}
    out.update({k: v for k, v in by_name.items() if v})
    unknown = [k for k in out if k not in FORMATS]
    if unknown:
        raise UserError(f"unknown output format {unknown[0]!r}; formats: {', '.join(FORMATS)}")
    return out


def probe_paths(wanted: Mapping[str, str]) -> list[tuple[Path, str]]:
    """A file of each requested format, to check its directory takes files.

    Parameters
    ----------
    wanted : mapping of str to str
        Format name -> prefix (:func:`requested`).

    Returns
    -------
    list of (Path, str)
        The example path and the flag that asks for it, per format.
    """
    return [(Path(FORMATS[k].example.format(prefix=p)), f"--{k} prefix {p!r}")
            for k, p in wanted.items()]


def needs_hypothetical(wanted: Mapping[str, str]) -> bool:
    """Whether a requested format reads hypothetical contributions.

    Parameters
    ----------
    wanted : mapping of str to str
        Format name -> prefix.

    Returns
    -------
    bool
    """
    return any(FORMATS[k].needs_hypothetical for k in wanted)


def write_all(staged: Staged, h5_path: str | Path, dna: str | None, tasks: Sequence[str],
              fasta: str | None, wanted: Mapping[str, str]) -> list[str]:
    """Every requested format from the finished score file (staged, renamed with it).

    Parameters
    ----------
    staged : Staged
        The run's staging; each file is written under its temporary name.
    h5_path : str or Path
        The finished (staged) score file.
    dna : str or None
        The one-hot DNA input, (N, L, 4); None refuses any format.
    tasks : sequence of str
    fasta : str or None
        The dataloader's FASTA (chromosome sizes for bigWig).
    wanted : mapping of str to str
        Format name -> prefix (:func:`requested`).

    Returns
    -------
    list of str
        The names written.
    """
    if not wanted:
        return []
    flags = "/".join(f"--{k}" for k in wanted)
    if dna is None:
        raise UserError(f"{flags} need a one-hot DNA input (N, L, 4)")
    written: list[str] = []

    def out(name: str) -> Path:
        written.append(name)
        return staged.path(name)

    try:
        with sf.ScoreFile(h5_path, staged=True) as h5:
            for k, prefix in wanted.items():
                fmt = FORMATS[k]
                if fmt.needs_ranges and not h5.has_ranges():
                    raise UserError(f"--{k} needs genomic ranges, and the dataloader gives no "
                                    "metadata.ranges")
                fmt.write(h5, prefix, tasks, dna, fasta, out)
    except OSError as e:        # a full disk, a directory that vanished: one line
        where = f" {written[-1]!r}" if written else ""     # the one being written
        raise UserError(f"writing{where} failed: {e.strerror or e}") from None
    return written
