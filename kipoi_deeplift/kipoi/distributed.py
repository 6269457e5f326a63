"""Genome-wide runs on a Dask cluster: each worker scores one shard, then the shards are merged.

    from dask.distributed import Client, LocalCluster   # or a SLURM/PBS cluster (dask-jobqueue)
    import kipoi_deeplift.kipoi.distributed as kdd

    client = Client(LocalCluster(n_workers=4, threads_per_worker=1))
    kdd.score_sharded(client, "DeepBind/Homo_sapiens/TF/D00328.018_ChIP-seq_CTCF",
                      {"intervals_file": "peaks.bed", "fasta_file": "hg38.fa"},
                      "ctcf.h5", n_shards=16, bigwig="ctcf")

Shards are cut at batch boundaries and references are seeded per sequence, so the merged file
holds exactly the arrays a single-machine run writes. Every worker needs the package, the data
files at the same paths (a shared file system) and, for zoo models, Kipoi's model cache.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def _score_one(model, dataloader_args, output, shard, options) -> str:
    from .scoring import score

    score(model, dataloader_args, output, shard=shard, progress=False, **options)
    return output


def score_sharded(client, model: str, dataloader_args: Any, output: str, n_shards: int,
                  work_dir: str | None = None, bigwig: str | None = None,
                  bedgraph: str | None = None, modisco: str | None = None,
                  derived: Any = None, **options) -> dict:
    """Score ``n_shards`` shards on ``client``'s workers and merge them into ``output``.

    Shard files go to ``work_dir`` and are removed after the merge; derived files are written
    once, from the merged file.

    Parameters
    ----------
    client : dask.distributed.Client
        The cluster's client.
    model : str
        A Kipoi model name or directory.
    dataloader_args : dict, str or list
        The dataloader's arguments (as :func:`kipoi_deeplift.score` takes them).
    output : str
        The merged score file.
    n_shards : int
        Shards to cut the run into (one task each).
    work_dir : str, optional
        Where the shard files go (default: a temporary folder beside ``output``).
    bigwig, bedgraph, modisco : str, optional
        Prefixes of derived files.
    derived : dict, optional
        Format -> prefix, for every derived format.
    **options
        :func:`kipoi_deeplift.score`'s options (rule, references, batch_size, ...).

    Returns
    -------
    dict
        :func:`kipoi_deeplift.io.merge.merge`'s summary of the merged file.
    """
    from ..io.merge import merge

    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(
        prefix=f".{Path(output).name}.shards-", dir=Path(output).resolve().parent))
    work.mkdir(parents=True, exist_ok=True)
    parts = [str(work / f"shard{i:05d}.h5") for i in range(1, n_shards + 1)]
    futures = [client.submit(_score_one, model, dataloader_args, p, f"{i}/{n_shards}", options,
                             pure=False)
               for i, p in enumerate(parts, 1)]
    done = client.gather(futures)
    try:
        return merge(done, output, bigwig, bedgraph, modisco, derived=derived)
    finally:
        for p in done:
            Path(p).unlink(missing_ok=True)
        if not work_dir:
            try:
                os.rmdir(work)
            except OSError:
                pass
