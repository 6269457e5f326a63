"""In-silico mutagenesis: every single-base substitution of the DNA input scored by a forward
pass, returned in DeepLIFT's layout (:class:`~kipoi_deeplift.core.result.Explanation`), so that
score files and ``compare`` treat both alike. No references and no backward pass."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import batching
from . import references as refs
from .collect import check_finite
from .result import Explanation
from .stream import in_batch
from .tasks import Task

#: Variant rows per forward call.
ISM_ROWS = 2048


def ism(predict: Callable, xs: Sequence[np.ndarray], tasks: Sequence[Task],
        names: Sequence[str], hypothetical: bool = False, progress: bool | None = None,
        seed: int = 0, rule: str = "ism", rows: int = ISM_ROWS,
        index_offset: int = 0) -> Explanation:
    """Every single-base substitution of the DNA input, all tasks from each forward pass.

    Per position l and base b, ``ism[l, b] = f(x with b at l) - f(x)``; ``hyp_contrib`` is
    ``ism`` minus its mean over the 4 bases at each position (so that, as for DeepLIFT's
    hypothetical contributions, its value at the observed base is that base's contribution),
    ``contrib`` is ``hyp_contrib * x``, ``delta`` the sum of ``contrib`` (there is no
    reference) and ``convergence`` zero. Other inputs are held fixed (zero contributions).

    Parameters
    ----------
    predict : callable
        ``predict(inputs) -> (rows, len(tasks), 2)``: per task, the scored value (the logit
        where the output ends in sigmoid/softmax) and the output (a backend's
        ``predict(tasks)``).
    xs : sequence of np.ndarray
        The checked inputs, in model order; the first one-hot (N, L, 4) input is mutated.
    tasks : sequence of Task
        The tasks ``predict`` computes, in its order.
    names : sequence of str
        The model's input names, in order.
    hypothetical : bool
        Whether to return ``hyp_contrib`` for the DNA input.
    progress : bool, optional
        Show a progress bar (``None``: when the run is long enough).
    seed : int
        Recorded on the result (ISM draws nothing).
    rule : str
        The method recorded on the result.
    rows : int
        Variant rows per forward call.
    index_offset : int
        The index of ``xs[0]`` in the run, for the message on non-finite scores.

    Returns
    -------
    Explanation
        ``contrib`` (N, L, 4) per input and task, ``hyp_contrib`` (N, L, 4), ``delta``,
        ``convergence`` and ``preds`` (N,) per task; ``references="none"``,
        ``exact=False``.
    """
    dna = [i for i, v in enumerate(xs) if refs.is_one_hot(v) and v.ndim == 3 and
           v.shape[-1] == 4]
    if not dna:
        raise ValueError("in-silico mutagenesis needs a one-hot DNA input (N, L, 4)")
    d = dna[0]
    effect, pred = substitution_effects(predict, xs, d, len(tasks), progress, rows)
    n = xs[d].shape[0]
    contrib: dict = {name: {} for name in names}
    hyp: dict = {names[d]: {}} if hypothetical else {}
    delta, conv, preds = {}, {}, {}
    for j, task in enumerate(tasks):
        centred = effect[..., j] - effect[..., j].mean(-1, keepdims=True)
        c = centred * xs[d]
        for i, name in enumerate(names):
            contrib[name][task.name] = c if i == d else np.zeros_like(xs[i])
        if hypothetical:
            hyp[names[d]][task.name] = centred
        delta[task.name] = c.reshape(n, -1).sum(1)
        conv[task.name] = np.zeros(n, np.float32)
        preds[task.name] = pred[:, j]
    res = Explanation(contrib=contrib, delta=delta, convergence=conv, preds=preds,
                      hyp_contrib=hyp, rule=rule, references="none", n_references=0,
                      seed=seed, tasks=[t.name for t in tasks], exact=False)
    check_finite(res, index_offset)
    return res


def ism_stream(predict: Callable, items: Iterable, check: Callable, tasks: Sequence[Task],
               names: Sequence[str], hypothetical: bool = False, seed: int = 0,
               rule: str = "ism", rows: int = ISM_ROWS) -> Iterator[tuple[Explanation, Any]]:
    """:func:`ism` on each batch of a stream as it comes (there are no references to make
    ahead), as :meth:`kipoi_deeplift.core.engine.DeepLift.stream` gives DeepLIFT's.

    Parameters
    ----------
    predict : callable
        As for :func:`ism`.
    items : iterable of tuple
        ``(x, index_offset, tag, ...)``: a batch's inputs as given, the index of its first
        sequence in the run, anything to hand back.
    check : callable
        ``check(x) -> list of arrays``: the batch's inputs checked, in model order.
    tasks, names, hypothetical, seed, rule, rows
        As for :func:`ism`.

    Returns
    -------
    iterator of (Explanation, Any)
        Each batch's scores (arrays (n, ...)) and its tag; errors are ``ValueError`` naming
        the batch's sequences.
    """
    for x, offset, tag, *_ in items:
        try:
            res = ism(predict, check(x), tasks, names, hypothetical, False, seed, rule, rows,
                      offset)
        except ValueError as e:
            raise in_batch(e, offset, x) from e
        yield res, tag


def substitution_effects(predict: Callable, xs: Sequence[np.ndarray], d: int, n_tasks: int,
                         progress: bool | None = None,
                         rows: int = ISM_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """f(x with base b at position l) - f(x) for every l and b, and f(x).

    Parameters
    ----------
    predict : callable
        As for :func:`ism`.
    xs : sequence of np.ndarray
        The inputs, in model order.
    d : int
        The index of the one-hot (N, L, 4) input to mutate.
    n_tasks : int
        Tasks ``predict`` computes.
    progress : bool, optional
        Show a progress bar (``None``: when the run is long enough).
    rows : int
        Variant rows per forward call.

    Returns
    -------
    effect : np.ndarray
        (N, L, 4, n_tasks) float32.
    pred : np.ndarray
        (N, n_tasks) float32: the output at x.
    """
    n, length = xs[d].shape[:2]
    eye = np.eye(4, dtype=np.float32)
    variants = 4 * length + 1                 # x itself first, then every substitution
    seqs_per_call = max(1, rows // variants)
    effect = np.zeros((n, length, 4, n_tasks), np.float32)
    pred = np.zeros((n, n_tasks), np.float32)
    with batching.progress(n, progress) as bar:
        for start in range(0, n, seqs_per_call):
            stop = min(n, start + seqs_per_call)
            block = []
            for i in range(start, stop):
                v = np.repeat(xs[d][i][None], variants, axis=0)
                grid = v[1:].reshape(length, 4, length, 4)
                grid[np.arange(length), :, np.arange(length), :] = eye
                block.append(v)
            feed = [np.concatenate(block) if j == d else
                    np.repeat(x[start:stop], variants, axis=0)
                    for j, x in enumerate(xs)]
            out = np.concatenate([predict([f[a:a + rows] for f in feed])
                                  for a in range(0, len(feed[0]), rows)])
            out = out.reshape(stop - start, variants, n_tasks, 2)
            base = out[:, 0, :, 0]                                  # f(x)
            effect[start:stop] = out[:, 1:, :, 0].reshape(stop - start, length, 4,
                                                          n_tasks) - base[:, None, None]
            pred[start:stop] = out[:, 0, :, 1]
            bar.update(stop - start)
    return effect, pred
