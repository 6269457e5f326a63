"""HDF5 attributes as Python values: h5py returns strings written by some writers (Keras 2,
older h5py) as bytes; every reader here decodes them the same way."""
from __future__ import annotations


def text(v):
    """``v`` decoded where it is bytes (UTF-8), else as it is.

    Parameters
    ----------
    v : object
        An attribute's value as h5py returns it.

    Returns
    -------
    object
        ``v.decode()`` for bytes, else ``v``.
    """
    return v.decode() if isinstance(v, bytes) else v


def attrs(obj) -> dict:
    """The attributes of an HDF5 file, group or dataset, bytes decoded (see :func:`text`).

    Parameters
    ----------
    obj : h5py.File, h5py.Group or h5py.Dataset
        What to read the attributes of.

    Returns
    -------
    dict
        Attribute name -> value.
    """
    return {k: text(v) for k, v in obj.attrs.items()}
