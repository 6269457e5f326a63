"""The PyTorch peers on the benchmark's architectures: the same networks in torch with the Keras
weights copied, checked to predict the same, then timed with tangermeme's ``deep_lift_shap``
and captum's ``DeepLiftShap`` on the same sequences and references.

torch, tangermeme and captum are the ``bench`` extra (``pip install -e '.[bench]'`` in the checkout).
Each peer runs in a process of its own (``python benchmarks/peers.py --run ...``) so that its
threads and allocator do not share a process with TensorFlow's; both frameworks get the same
thread count, and torch ``OMP_WAIT_POLICY=PASSIVE`` (its spinning threads made it 3-6x slower
on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def torch_model(name: str, keras_model):
    """The torch twin of a benchmark model (``run.MODELS``), weights copied from Keras:
    Conv1D kernels (k, in, out) -> (out, in, k) (both cross-correlations); the first Dense
    after a Flatten has its rows permuted from Keras' (position, channel) order to torch's
    (channel, position); the final sigmoid is left out (the scores explain the logit)."""
    import torch
    from torch import nn

    convs = [lay for lay in keras_model.layers if type(lay).__name__ == "Conv1D"]
    denses = [lay for lay in keras_model.layers if type(lay).__name__ == "Dense"]

    def conv(lay, **kw):
        k, cin, cout = lay.kernel.shape
        c = nn.Conv1d(cin, cout, k, dilation=lay.dilation_rate[0],
                      padding="same" if lay.padding == "same" else 0, **kw)
        w, b = lay.get_weights()
        c.weight.data = torch.from_numpy(np.ascontiguousarray(w.transpose(2, 1, 0)))
        c.bias.data = torch.from_numpy(b)
        return c

    def dense(lay, permute_from=None):
        w, b = lay.get_weights()                 # (in, out)
        if permute_from is not None:             # rows (position, channel) -> (channel, position)
            length, channels = permute_from
            w = w.reshape(length, channels, -1).transpose(1, 0, 2).reshape(length * channels, -1)
        d = nn.Linear(w.shape[0], w.shape[1])
        d.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
        d.bias.data = torch.from_numpy(b)
        return d

    class Residual(nn.Module):
        def __init__(self, conv_layer):
            super().__init__()
            self.conv, self.relu = conv_layer, nn.ReLU()

        def forward(self, x):
            return x + self.relu(self.conv(x))

    class Mean(nn.Module):
        def forward(self, x):
            return x.mean(dim=-1)

    if name == "deepbind":
        # The global max as a pooling module over the whole length: both peers have a rule for
        # MaxPool1d; a bare torch.max would be passed as linear by tangermeme.
        positions = int(convs[0].output.shape[1])
        net = nn.Sequential(conv(convs[0]), nn.ReLU(), nn.MaxPool1d(positions), nn.Flatten(),
                            dense(denses[0]), nn.ReLU(), dense(denses[1]))
    elif name == "basset":
        pools = [lay.pool_size[0] for lay in keras_model.layers
                 if type(lay).__name__ == "MaxPooling1D"]
        flat = keras_model.get_layer(index=[type(lay).__name__ for lay in keras_model.layers]
                                     .index("Flatten")).input.shape[1:]
        parts = []
        for c, p in zip(convs, pools):             # a ReLU module each (captum issue #1104)
            parts += [conv(c), nn.ReLU(), nn.MaxPool1d(p)]
        net = nn.Sequential(*parts, nn.Flatten(), dense(denses[0], tuple(flat)), nn.ReLU(),
                            dense(denses[1]), nn.ReLU(), dense(denses[2]))
    elif name == "bpnet":
        net = nn.Sequential(conv(convs[0]), nn.ReLU(), *[Residual(conv(c)) for c in convs[1:]],
                            Mean(), dense(denses[0]))
    else:
        raise ValueError(name)
    return net.eval()


def timed(fn, repeats: int, warm=None) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one call of ``warm`` (default
    ``fn``)."""
    (warm or fn)()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_peer(peer: str, name: str, n_tasks: int, k: int, repeats: int, threads: int) -> dict:
    """Time one peer (tangermeme or captum) on the benchmark model ``name`` for the first
    ``n_tasks`` outputs; returns seconds, attributions (N, L, 4) of task 0 and the largest
    prediction difference from Keras."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import torch

    import run as bench        # benchmarks/run.py: the Keras models and data

    torch.set_num_threads(threads)
    keras.utils.set_random_seed(0)
    build, n = bench.MODELS[name]
    model = build()
    x, refs = bench.data(model, n, k)
    net = torch_model(name, model)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))
    rt = torch.from_numpy(np.ascontiguousarray(refs.transpose(0, 2, 1)))          # (K, 4, L)
    with torch.no_grad():
        ours = bench.logits(model, x)
        theirs = net(xt).numpy().reshape(len(x), -1)
    pred_diff = float(np.abs(ours - theirs).max())
    if peer == "tangermeme":
        from tangermeme.deep_lift_shap import deep_lift_shap

        per_seq = rt[None].expand(len(x), *rt.shape).contiguous()        # (N, K, 4, L)

        def attribute(task):
            return deep_lift_shap(net, xt, target=task, references=per_seq, n_shuffles=k,
                                  batch_size=len(x) * k, warning_threshold=1e9)
    else:
        from captum.attr import DeepLiftShap

        explainer = DeepLiftShap(net)

        def attribute(task):
            return explainer.attribute(xt, baselines=rt, target=task)

    def all_tasks():
        return [attribute(t) for t in range(n_tasks)]

    # Warmed up on one task; all tasks of a large model are timed once (minutes per round).
    seconds = timed(all_tasks, repeats if n_tasks == 1 else 1, warm=lambda: attribute(0))
    first = attribute(0).detach().numpy().transpose(0, 2, 1)
    with torch.no_grad():        # its own summation-to-delta: which of two disagreeing is off
        delta = net(xt).numpy().reshape(len(x), -1)[:, 0] - \
            net(rt).numpy().reshape(len(rt), -1)[:, 0].mean()
    sum_error = float(np.max(np.abs(first.sum((1, 2)) - delta) /
                             np.maximum(1.0, np.abs(delta))))
    # tangermeme returns each position's total on the observed base (as score files hold
    # /contrib), captum m * (x - r) per channel.
    return {"peer": peer, "seconds": seconds, "pred_diff": pred_diff, "sum_error": sum_error,
            "attr_task0": first.tolist(),
            "form": "projected" if peer == "tangermeme" else "per-channel"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, choices=("tangermeme", "captum"))
    p.add_argument("--model", required=True)
    p.add_argument("--tasks", type=int, default=1)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = p.parse_args(argv)
    try:
        out = run_peer(a.run, a.model, a.tasks, a.k, a.repeats, a.threads)
    except ImportError as e:
        out = {"peer": a.run, "seconds": None, "note": f"not installed ({e.name})"}
    except Exception as e:            # report what failed, as the table's note
        out = {"peer": a.run, "seconds": None, "note": f"{type(e).__name__}: {str(e)[:160]}"}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
