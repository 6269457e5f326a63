"""The table of supported layers that ``kipoi-deeplift rules`` prints and the README holds,
generated from the layer-rule table (:data:`.rules.LAYER_RULES`)."""
from __future__ import annotations

from .rules import builtin_rules

#: How each kind of row passes multipliers, whether RevealCancel applies there and whether
#: summation-to-delta holds exactly (the table ``kipoi-deeplift rules`` prints).
KINDS: dict[str, tuple[str, str, str]] = {
    "linear": ("the gradient (the layer is affine at inference)", "-", "yes"),
    "elementwise": ("Rescale: the secant (f(x) - f(r)) / (x - r); any activation function or "
                    "layer found elementwise by probing", "after Dense/Conv, if monotone "
                    "(not gelu, swish/silu, mish, hard_silu, GELU)", "yes"),
    "max": ("maxpool='exact': the difference to the argmax of x or r; 'gradient': the "
            "authors' original routing", "-", "with maxpool='exact'"),
    "product": ("two-factor rule: Δ(ab) = ½(b_x + b_r)Δa + ½(a_x + a_r)Δb, any bilinear map",
                "-", "yes"),
    "softmax": ("inside the model: exp (Rescale), sum, 1/sum (Rescale), product; as the "
                "output: scored at its logits", "-", "yes"),
    "normalisation": ("centre, square (product), mean, rsqrt (Rescale), product", "-", "yes"),
    "attention": ("projections, Q·Kᵀ and weights·V (product rule), softmax as above", "-",
                  "yes"),
    "recurrent": ("unrolled step by step: gate nonlinearities by Rescale, gate products by "
                  "the product rule", "-", "yes"),
    "wrapper": ("the inner layer's rule at every time step", "as the inner layer",
                "as the inner layer"),
    "output": ("BPNet's profile objective with its softmax weights held", "-", "yes"),
}
#: What has no row and is ruled on by what it computes (see :mod:`.ops`).
UNLISTED = (
    ("Keras operations (keras.ops.mean, x * 2, x[:, 2:], einsum, ...)",
     "linear ones: the gradient; products of two signals: product rule; softmax, max/min: "
     "as above; others probed (elementwise: Rescale)"),
    ("custom layers", "walked into the layers and keras.ops their call is made of; else "
     "probed: elementwise (Rescale) or linear (gradient); else refused by name"),
    ("Lambda layers", "traced: linear ops, one max/min, or elementwise"),
)


def table() -> str:
    """The supported layer types, one row per kind, as a Markdown table (generated from
    ``LAYER_RULES``: the README's copy is checked against it).

    Returns
    -------
    str
    """
    by_kind: dict[str, list[str]] = {}
    for name, rule in sorted(builtin_rules().items()):
        by_kind.setdefault(rule.kind, []).append(name)
    # Every row shows: in a kind of its own, or among the unlisted ones (Lambda: "traced").
    assert set(by_kind) <= set(KINDS) | {"traced"}, set(by_kind) - set(KINDS)
    lines = ["| kind | layer types | how multipliers pass | RevealCancel | exact |",
             "|---|---|---|---|---|"]
    for kind, (how, rc, exact) in KINDS.items():
        if kind in by_kind:
            lines.append(f"| {kind} | {', '.join(by_kind[kind])} | {how} | {rc} | {exact} |")
    lines += ["", "| not in the table | rule |", "|---|---|"]
    lines += [f"| {what} | {how} |" for what, how in UNLISTED]
    return "\n".join(lines)
