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

from . import scorefile as sf
from ..errors import UserError
from .tables import write_sites, write_summary
from .writers import (Staged, chrom_sizes_from, modisco_arrays, write_bedgraph, write_bigwig,
                      write_npz)

#: ``out(name)`` registers a file the format writes and returns the temporary path to write.
Out = Callable[[str], Path]


@dataclass(frozen=True)
class Format:
    """One derived output.

    ``write(h5, prefix, tasks, dna, fasta, out)`` writes the files for ``tasks`` (names) of the
    DNA input ``dna`` from the score file ``h5``; ``fasta`` is the dataloader's FASTA or None.
    ``example`` names one of its files for a prefix (to check the directory before any work).
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
    """TF-MoDISco settings that fit sequences ``length`` long: ``window`` (the central part
    read; at most 400, even: modisco-lite takes ``center ± window // 2``, so an odd length
    is one base short of ``window = length``) and, below 400 bp, seqlet cores of 10 bp
    trimmed to 15 (modisco-lite's defaults, 20 and 30, found no pattern in a 100 bp
    simulation with a planted 6 bp site in half the sequences; these find it)."""
    out = {"window": min(400, length - length % 2)}
    if length < 400:
        out.update(sliding_window_size=10, flank_size=5, trim_to_window_size=15,
                   initial_flank_to_add=5)
    return out


def modisco_command(prefix: str, task: str | None, length: int) -> str:
    """The ``modisco motifs`` command (modisco-lite) that reads the files :func:`_modisco`
    writes for one task (``None``: the only one) of sequences ``length`` long, with ``-n``
    (required) and the settings of :func:`modisco_settings`."""
    import shlex

    stem = prefix if task is None else f"{prefix}.{sf.h5_key(task)}"
    settings = modisco_settings(length)
    extra = [w for flag, key in MODISCO_FLAGS.items() if key in settings
             for w in (flag, str(settings[key]))]
    return shlex.join(["modisco", "motifs", "-s", f"{prefix}.ohe.npz", "-a", f"{stem}.hyp.npz",
                       "-n", "2000", "-w", str(settings["window"]), *extra,
                       "-o", f"{stem}.modisco.h5"])


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


def _summary(h5, path, tasks, dna, fasta, out):
    write_summary(h5, dna, tasks, out(path))


def _sites(h5, path, tasks, dna, fasta, out):
    write_sites(h5, dna, tasks, out(path))


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
           "{prefix}", _sites, needs_ranges=True, metavar="FILE.bed"),
)}


def requested(derived: Mapping[str, str | None] | None = None, **by_name: str | None
              ) -> dict[str, str]:
    """Format name -> prefix for the formats asked for (``derived`` and keywords merged)."""
    out = {k: v for k, v in (derived or {}).items() if v}
    out.update({k: v for k, v in by_name.items() if v})
    unknown = [k for k in out if k not in FORMATS]
    if unknown:
        raise UserError(f"unknown output format {unknown[0]!r}; formats: {', '.join(FORMATS)}")
    return out


def probe_paths(wanted: Mapping[str, str]) -> list[tuple[Path, str]]:
    """A file of each requested format, to check its directory takes files."""
    return [(Path(FORMATS[k].example.format(prefix=p)), f"--{k} prefix {p!r}")
            for k, p in wanted.items()]


def needs_hypothetical(wanted: Mapping[str, str]) -> bool:
    """Whether a requested format reads hypothetical contributions."""
    return any(FORMATS[k].needs_hypothetical for k in wanted)


def write_all(staged: Staged, h5_path: str | Path, dna: str | None, tasks: Sequence[str],
              fasta: str | None, wanted: Mapping[str, str]) -> list[str]:
    """Every requested format from the finished score file ``h5_path`` (staged, renamed with
    the score file); returns the names written."""
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
