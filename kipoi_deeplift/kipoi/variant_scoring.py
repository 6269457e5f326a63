"""One batch of variants through the engine: the REF sequences' references drawn (seeded by the
window's locus), both alleles explained against those same references, on one strand or both.

Because the two alleles share their references, per task ``delta_alt - delta_ref`` equals
``f(alt) - f(ref)`` (the means over the references cancel): the contributions of the two
alleles are differences from the same baseline.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..core import references as refs_lib
from ..core import strands as strands_lib
from ..core.result import Explanation
from ..errors import UserError
from ..io.vcf import Variant


def dna_references(references: Any, dna: str) -> Any:
    """The DNA input's references as the variants run uses them.

    Parameters
    ----------
    references : str, numpy.ndarray or dict
        What :func:`.arguments.references_arg` made of --references.
    dna : str
        The DNA input's Keras name.

    Returns
    -------
    str or numpy.ndarray
        A name, or an array of one reference (L, 4) or K shared ones (K, L, 4); per-sequence
        arrays (N, K, L, 4) are refused in one line (the rows of a VCF are not a dataloader's).
    """
    if isinstance(references, Mapping):
        references = references.get(dna, "dinuc-shuffle")
    if isinstance(references, str):
        return references
    ref = np.asarray(references, np.float32)
    if ref.ndim > 3:
        raise UserError(f"--references: an array of shape {ref.shape} gives each sequence its "
                        "own references; variants takes one reference (L, 4) or K shared "
                        "ones (K, L, 4), or a name such as dinuc-shuffle")
    return ref


def draw(references: Any, x_ref: np.ndarray, variants: Sequence[Variant], length: int,
         n_references: int, seed: int, name: str) -> Any:
    """The references of a batch's REF sequences.

    Parameters
    ----------
    references : str or numpy.ndarray
        :func:`dna_references`' result.
    x_ref : numpy.ndarray, shape=(n, L, 4)
        The REF sequences.
    variants : sequence of Variant
        Their variants (the window's locus seeds each sequence's random references, so a
        variant gets the same ones in any batch, order or file; the ALTs of one record share
        them).
    length, n_references, seed : int
        L, K and the run's seed.
    name : str
        The DNA input's name, for messages.

    Returns
    -------
    str or numpy.ndarray
        Random references as arrays (n, K, L, 4); a fixed name or array as it is (the same for
        every sequence).
    """
    if not isinstance(references, str) or not refs_lib.is_random(references):
        return references
    starts = np.array([v.window_start for v in variants], np.int64)
    draws = refs_lib.Draws.of_loci([v.chrom for v in variants], starts, starts + length,
                                   np.zeros(len(variants), bool))
    batch = refs_lib.batch_references(references, x_ref, n_references, seed, draws.keys, name)
    return np.ascontiguousarray(batch.per_sequence(len(variants)), dtype=np.float32)


def _rc(references: Any) -> Any:
    """The references of the reverse strand: each reference reverse-complemented (named fixed
    references, zeros, uniform and gc:F, are their own reverse complements)."""
    if isinstance(references, str):
        return references
    return np.ascontiguousarray(np.asarray(references)[..., ::-1, ::-1])


def _pair(references: Any) -> Any:
    """The same references for the REF rows and the ALT rows after them."""
    if isinstance(references, np.ndarray) and references.ndim == 4:
        return np.concatenate([references, references])
    return references


def explain_pair(engine, x_ref: np.ndarray, x_alt: np.ndarray, references: Any,
                 strands: str, mirror: Mapping[str, str] | None = None,
                 **keywords) -> tuple[Explanation, Explanation]:
    """Both alleles of n variants explained against the same references.

    Parameters
    ----------
    engine : DeepLift
        The run's engine (or one with the same ``explain``).
    x_ref, x_alt : numpy.ndarray, shape=(n, L, 4)
        The sequences with each allele.
    references : str or numpy.ndarray
        :func:`draw`'s result: (n, K, L, 4), or one name or array for all.
    strands : {'forward', 'reverse', 'both'}
        The sequences as read, their reverse complements against the reverse-complemented
        references (read back along the genome), or the mean of the two.
    **keywords
        ``n_references``, ``seed``, ``tasks``, ``hypothetical``, ``batch_size``: as
        :meth:`~kipoi_deeplift.core.engine.DeepLift.explain` takes them.

    Returns
    -------
    (Explanation, Explanation)
        The REF and ALT sequences' scores, (n, L, 4) per input and task, in genome orientation.
    """
    n = len(x_ref)
    x = np.concatenate([x_ref, x_alt])
    refs = _pair(references)
    res = None
    if strands != "reverse":
        res = engine.explain(x, references=refs, progress=False, **keywords)
    if strands != "forward":
        rev = engine.explain(strands_lib.reverse_complement(x), references=_rc(refs),
                             progress=False, **keywords)
        res = strands_lib.averaged(res, rev, mirror) if res is not None else \
            strands_lib.in_forward_orientation(rev, mirror)
    return rows(res, slice(0, n)), rows(res, slice(n, 2 * n))


def rows(res: Explanation, sl: slice) -> Explanation:
    """Some rows of an explanation.

    Parameters
    ----------
    res : Explanation
    sl : slice
        The rows.

    Returns
    -------
    Explanation
        Every array cut to ``sl`` along its first axis; the rest as it is.
    """
    def cut(d: Mapping) -> dict:
        return {k: cut(v) if isinstance(v, Mapping) else v[sl] for k, v in d.items()}

    return replace(res, contrib=cut(res.contrib), delta=cut(res.delta),
                   convergence=cut(res.convergence), preds=cut(res.preds),
                   hyp_contrib=cut(res.hyp_contrib), neuron_contrib=cut(res.neuron_contrib),
                   members=[rows(m, sl) for m in res.members])
