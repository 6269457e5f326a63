"""Writers, by job, re-exported here where callers have always imported them:

- :mod:`~kipoi_deeplift.io.staging`: temporary names renamed into place (:class:`Staged`,
  :func:`staged_file`, :func:`check_writable`, :func:`stale_temps`) and disk space reserved
  before a write (:func:`reserved`, :func:`check_room`);
- :mod:`~kipoi_deeplift.io.h5stream`: the HDF5 score file, streamed batch by batch
  (:class:`H5Writer`);
- :mod:`~kipoi_deeplift.io.tracks`: bigWig and bedGraph tracks of a finished file;
- :mod:`~kipoi_deeplift.io.modisco`: TF-MoDISco's input arrays and ``.npz`` files.

Patch a name where it is defined (``kipoi_deeplift.io.staging._fallocate``), not here: the
modules look their names up in their own namespaces.
"""
from __future__ import annotations

from .h5stream import (CHUNK_ROWS, COMPRESSED, GZIP_LEVEL, STR, H5Writer,  # noqa: F401
                       _chunk_rows, _deflate)
from .modisco import modisco_arrays, write_npz  # noqa: F401
from .staging import (MARGIN, TMP_SUFFIX, Staged, check_room, check_writable,  # noqa: F401
                      reserved, stale_temps, staged_file)
from .tracks import chrom_sizes_from, write_bedgraph, write_bigwig  # noqa: F401

__all__ = ["CHUNK_ROWS", "COMPRESSED", "GZIP_LEVEL", "MARGIN", "STR", "TMP_SUFFIX", "H5Writer",
           "Staged", "check_room", "check_writable", "chrom_sizes_from", "modisco_arrays",
           "reserved", "stale_temps", "staged_file", "write_bedgraph", "write_bigwig",
           "write_npz"]
