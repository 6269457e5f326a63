"""Joining the shard files of one `score --shard I/N` run into the file an unsharded run writes."""
from __future__ import annotations

import json
import shlex
from typing import Mapping, Sequence

from . import derived as derived_lib
from ..errors import UserError
from .genome import find_arg
from .scorefile import PROVENANCE, ScoreFile
from .h5stream import H5Writer
from .staging import Staged

ROWS = 256       # rows copied at a time (memory stays flat)


def _check(paths: list[str], also: Sequence[str] = ()) -> list[tuple[int, str, dict]]:
    shards = []
    for p in paths:
        with ScoreFile(p) as f:
            attrs = f.attrs
            if "kipoi_deeplift_version" not in attrs:
                raise UserError(f"{p} is not a kipoi-deeplift score file")
            if not attrs.get("shard"):
                raise UserError(f"{p} is not a shard (scored without --shard)")
            i, n = (int(v) for v in str(attrs["shard"]).split("/"))
            shards.append((i, n, p, attrs, f.datasets()))
    counts = {n for _, n, *_ in shards}
    if len(counts) != 1:
        raise UserError(f"the files are shards of different splits (N = {sorted(counts)})")
    n = counts.pop()
    seen = sorted(i for i, *_ in shards)
    if seen != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(seen))
        twice = sorted({i for i in seen if seen.count(i) > 1})
        raise UserError(f"shards of {n}: " + (f"missing {missing}" if missing else "") +
                        (" " if missing and twice else "") +
                        (f"given twice {twice}" if twice else ""))
    shards.sort()
    first = shards[0]
    for i, _, p, attrs, names in shards[1:]:
        for key in dict.fromkeys((*PROVENANCE, *also)):   # the same model, data and options
            if attrs.get(key) != first[3].get(key):
                raise UserError(f"{p} differs from {first[2]} in {key}: not shards of one run")
        if names != first[4]:
            raise UserError(f"{p} holds other datasets than {first[2]}")
    stop = 0
    for i, _, p, attrs, _ in shards:
        if int(attrs["shard_start"]) != stop:
            raise UserError(f"{p} starts at sequence {attrs['shard_start']}, expected {stop}")
        stop = int(attrs["shard_stop"])
    return [(i, p, attrs) for i, _, p, attrs, _ in shards]


def merge(paths: list[str], output: str, bigwig: str | None = None,
          bedgraph: str | None = None, modisco: str | None = None,
          derived: Mapping[str, str] | None = None, also: Sequence[str] = ()) -> dict:
    """Concatenate shard files (in shard order) into ``output``; optionally write derived files.

    The shards must agree on :data:`.scorefile.PROVENANCE` and the attributes ``also``.

    Parameters
    ----------
    paths : list of str
        The shard files of one ``score --shard I/N`` run, each shard once, in any order.
    output : str
        The merged score file.
    bigwig, bedgraph, modisco : str, optional
        Prefixes of the built-in derived formats (the same as ``derived`` entries).
    derived : mapping of str to str, optional
        Format -> prefix (see :mod:`kipoi_deeplift.io.derived`).
    also : sequence of str, optional
        Further attributes that must agree: the score command's options that change results.

    Returns
    -------
    dict
        ``output``, ``sequences`` (rows merged), ``shards`` (count), ``files`` (paths
        committed) and ``derived`` (derived file names written).
    """
    wanted = derived_lib.requested(derived, bigwig=bigwig, bedgraph=bedgraph, modisco=modisco)

    shards = _check(paths, also)
    attrs = dict(shards[0][2])
    for key in ("shard", "shard_start", "shard_stop"):
        attrs.pop(key, None)
    attrs["merged_from"] = json.dumps([p for _, p, _ in shards])
    attrs["end_time"] = shards[-1][2].get("end_time", "")
    words = shlex.split(attrs.get("command", ""))
    if "--shard" in words:                       # the unsharded command reproduces the merge
        k = words.index("--shard")
        del words[k:k + 2]
        attrs["command"] = shlex.join(words)
    staged = Staged()
    try:
        tmp = staged.path(output)
        writer = H5Writer(tmp, attrs, label=str(output))
        try:
            for _, p, _ in shards:
                with ScoreFile(p) as f:
                    names = f.datasets()
                    n = f[names[0]].shape[0]
                    for a in range(0, n, ROWS):
                        writer.append({k: f[k][a:a + ROWS] for k in names})
            total = writer.n
        finally:
            writer.close()
        tasks = json.loads(attrs.get("tasks", "[]"))
        args = json.loads(attrs.get("dataloader_args", "{}"))
        written = derived_lib.write_all(staged, tmp, attrs.get("dna_input") or None, tasks,
                                        find_arg(args, "fasta"), wanted)
        files = staged.commit()
    except BaseException:
        staged.discard()
        raise
    return {"output": output, "sequences": total, "shards": len(shards),
            "files": [str(f) for f in files], "derived": written}
