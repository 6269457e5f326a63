"""Architectures of published zoo models, rebuilt with random weights for the groups whose files
are not at hand (layer types and wiring as published; sizes shrunk to keep the tests fast)."""
from __future__ import annotations

import keras
import numpy as np

import _models as M

L = keras.layers


def mpra_dragonn_conv(length=145):
    """MPRA-DragoNN ConvModel as its Kipoi JSON has it (kundajelab/MPRA-DragoNN
    kipoi/ConvModel/model.json), narrower: 3 x [Conv1D(120, 5, valid, relu) -> BatchNorm ->
    Dropout(0.1)] -> Flatten -> Dense(12), the 12 linear MPRA readouts."""
    i = keras.Input((length, 4), name="seq")
    h = i
    for j in range(3):
        h = L.Conv1D(12, 5, activation="relu", name=f"conv{j}")(h)
        h = L.Dropout(0.1)(L.BatchNormalization(name=f"bn{j}")(h))
    return M.randomise(keras.Model(i, L.Dense(12, name="readouts")(L.Flatten()(h))), 11, 0.2)


def cpgenie(length=500):
    """CpGenie as published (gifford-lab/CpGenie seq_128x3_5_5_2f_simple, Keras 1 with Theano's
    channels-first order), narrower: input (4, 1, L) as Kipoi's schema declares; 3 x
    [Conv2D(128/256/512, (1, 5), same, relu) -> MaxPooling2D((1, 5), strides (1, 3))] ->
    Flatten -> 2 x [Dense(64, relu) -> Dropout] -> Dense(2) -> Activation(softmax). Returned
    wrapped as `score` wraps it (kipoi.schema.canonical_model: takes (L, 4))."""
    from kipoi_deeplift.kipoi.schema import canonical_model, dna_layout

    i = keras.Input((4, 1, length), name="seq")
    h = i
    for j, f in enumerate((8, 12, 16)):
        h = L.Conv2D(f, (1, 5), padding="same", activation="relu",
                     data_format="channels_first", name=f"conv{j}")(h)
        h = L.MaxPooling2D((1, 5), strides=(1, 3), data_format="channels_first",
                           name=f"pool{j}")(h)
    h = L.Flatten()(h)
    for j in range(2):
        h = L.Dropout(0.5)(L.Dense(16, activation="relu", name=f"fc{j}")(h))
    out = L.Activation("softmax", name="methyl")(L.Dense(2, name="logits")(h))
    model = M.randomise(keras.Model(i, out), 12, 0.2)
    return canonical_model(model, ["seq"], {"seq": dna_layout((4, 1, length))})


def deepstarr(length=249):
    """DeepSTARR: four conv-BN-ReLU-max-pool blocks, two dense layers, Dev and Hk outputs."""
    i = keras.Input((length, 4), name="seq")
    h = i
    for j, (f, k) in enumerate(((16, 7), (12, 3), (12, 5), (12, 3))):
        h = L.Conv1D(f, k, padding="same", name=f"conv{j}")(h)
        h = L.Activation("relu")(L.BatchNormalization(name=f"bn{j}")(h))
        h = L.MaxPooling1D(2, name=f"pool{j}")(h)
    h = L.Flatten()(h)
    for j in range(2):
        h = L.Dropout(0.4)(L.Activation("relu")(L.BatchNormalization(name=f"fbn{j}")(
            L.Dense(16, name=f"fc{j}")(h))))
    return M.randomise(keras.Model(i, [L.Dense(1, name="Dev")(h), L.Dense(1, name="Hk")(h)]),
                       13, 0.2)


def divergent421(length=1000):
    """Divergent421 as kipoi/manuscript's model summary has it (Keras 1.2.2), narrower:
    Conv1D(300, 19, valid) -> BatchNorm -> PReLU (a slope per position and channel) ->
    MaxPool 3 -> Conv1D(200, 11, same) -> BN -> PReLU -> MaxPool 4 -> Conv1D(200, 7, same)
    -> BN -> PReLU -> MaxPool 4 -> Flatten -> 2 x [Dense(1000) -> BN -> PReLU -> Dropout]
    -> Dense(421) -> Activation(sigmoid)."""
    i = keras.Input((length, 4), name="seq")
    h = i
    for j, (f, k, pad, pool) in enumerate(((12, 19, "valid", 3), (8, 11, "same", 4),
                                           (8, 7, "same", 4))):
        h = L.Conv1D(f, k, padding=pad, name=f"conv{j}")(h)
        h = L.MaxPooling1D(pool)(L.PReLU(name=f"prelu{j}")(L.BatchNormalization()(h)))
    h = L.Flatten()(h)
    for j in range(2):
        h = L.Dropout(0.5)(L.PReLU(name=f"fprelu{j}")(L.BatchNormalization()(
            L.Dense(16, name=f"fc{j}")(h))))
    out = L.Activation("sigmoid", name="tasks")(L.Dense(6, name="logits")(h))
    model = M.randomise(keras.Model(i, out), 14, 0.2)
    for layer in model.layers:   # PReLU slopes around 0.25, as trained ones are
        if type(layer).__name__ == "PReLU":
            w = layer.get_weights()[0]
            layer.set_weights([np.abs(w) + 0.05])
    return model


def bpnet(length=200, tasks=("Oct4", "Sox2"), layers=9):
    """BPNet as published (kundajelab/bpnet v0 layers.py, heads.py), narrower: Conv1D(F, 25,
    same, relu), then ``layers`` dilated Conv1D(F, 3, same, relu, dilation 2^i) each added to
    its input; per task a profile head (Reshape to (L, 1, F) -> Conv2DTranspose(2, (25, 1),
    same) -> Reshape to (L, 2 strands)) and a count head (GlobalAveragePooling1D -> Dense(2),
    log total counts). The bias inputs of the Kipoi class are fed zeros
    (rebuild.bpnet.zero_bias_inputs; tested in test_zoo_loading)."""
    i = keras.Input((length, 4), name="seq")
    h = L.Conv1D(16, 25, padding="same", activation="relu", name="first")(i)
    for j in range(1, layers + 1):
        h = L.Add(name=f"res{j}")([h, L.Conv1D(16, 3, padding="same", dilation_rate=2 ** j,
                                               activation="relu", name=f"dil{j}")(h)])
    outs = []
    for t in tasks:
        p = L.Conv2DTranspose(2, (25, 1), padding="same", name=f"{t}_deconv")(
            L.Reshape((length, 1, 16))(h))
        outs.append(L.Reshape((length, 2), name=f"{t}_profile")(p))
        outs.append(L.Dense(2, name=f"{t}_counts")(L.GlobalAveragePooling1D()(h)))
    return M.randomise(keras.Model(i, outs), 15, 0.15)


def _deepmel_strand(K, conv, pool, sizes):
    """The DeepMEL family's layers shared by both strands, as published (aertslab/DeepMEL
    training.ipynb build_model; DeepFlyBrain.json): Conv1D(relu) -> MaxPooling1D ->
    Dropout -> TimeDistributed(Dense relu) -> Bidirectional(LSTM(return_sequences=True),
    hard_sigmoid gates, Keras 2's default) -> Dropout -> Flatten -> Dense(relu) -> Dropout.
    ``conv``: (filters, width, padding); ``pool``: (size, stride); ``sizes``: (TimeDistributed
    units, LSTM units, Dense units), shrunk from the published (128, 128, 256)."""
    L = K.layers
    td, units, dense = sizes
    return [L.Conv1D(conv[0], conv[1], padding=conv[2], activation="relu", name="conv1d_1"),
            L.MaxPooling1D(pool[0], pool[1], name="max_pooling1d_1"),
            L.Dropout(0.2, name="dropout_1"),
            L.TimeDistributed(L.Dense(td, activation="relu", name="dense_1"),
                              name="time_distributed_1"),
            L.Bidirectional(L.LSTM(units, return_sequences=True,
                                   recurrent_activation="hard_sigmoid", name="lstm_1"),
                            name="bidirectional_1"),
            L.Dropout(0.2, name="dropout_2"), L.Flatten(name="flatten_1"),
            L.Dense(dense, activation="relu", name="dense_2"), L.Dropout(0.4, name="dropout_3")]


def _through(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def deepmel(length=500, topics=3, sizes=(6, 4, 8)):
    """DeepMEL (DeepMEL/DeepMEL, Keras 2.2.4, loaded with tf_keras): forward and reverse
    complement as two inputs (Kipoi's dataloader computes the second) through the shared
    layers of :func:`_deepmel_strand` with Conv1D(128, 20, valid) and MaxPooling1D(10, 10),
    each strand ending in its own call of the shared Dense(topics, sigmoid); the model's
    output is the Average of the two strands' sigmoid outputs."""
    import tf_keras as K

    L = K.layers
    fwd, rc = K.Input((length, 4), name="input_1"), K.Input((length, 4), name="input_2")
    shared = _deepmel_strand(K, (8, 20, "valid"), (10, 10), sizes) + \
        [L.Dense(topics, activation="sigmoid", name="dense_3")]
    out = L.Average(name="average_1")([_through(shared, fwd), _through(shared, rc)])
    return M.randomise(K.Model([fwd, rc], out), 16, 0.3)


def deepflybrain(length=500, topics=81, sizes=(6, 4, 8)):
    """DeepFlyBrain as its Kipoi JSON has it (DeepFlyBrain.json, Keras 2.2.4): one input; the
    reverse complement made inside by two Lambdas (K.reverse over positions, then over
    bases); the shared layers of :func:`_deepmel_strand` with Conv1D(1024, 24, same) and
    MaxPooling1D(12, 12) on both strands; Concatenate; one Dense(topics, sigmoid). DeepLiver
    (same family, files not seen) is tested with this form too."""
    import tf_keras as K

    L = K.layers
    i = K.Input((length, 4), name="input_1")
    rc = L.Lambda(lambda x: K.backend.reverse(x, axes=2), name="lambda_1")(
        L.Lambda(lambda x: K.backend.reverse(x, axes=1), name="lambda_2")(i))
    shared = _deepmel_strand(K, (8, 24, "same"), (12, 12), sizes)
    h = L.Concatenate(axis=1, name="concatenate_1")([_through(shared, i), _through(shared, rc)])
    return M.randomise(K.Model(i, L.Dense(topics, activation="sigmoid", name="dense_3")(h)),
                       17, 0.3)


def scbasset(length=1344, cells=6):
    """scBasset as Kipoi serves it (scbasset/model.json: layer types and wiring), narrower:
    augmentation layers (identity at inference), GELU before every convolution, a stem, a
    pooling tower, a 1x1 convolution, a 32-unit bottleneck on a (1, L*C) reshape, a sigmoid
    Dense per cell, SwitchReverse, Flatten."""
    from kipoi_deeplift.zoo import layers as Z

    i = keras.Input((length, 4), name="sequence")
    seq, flag = Z.StochasticReverseComplement()(i)
    h = Z.StochasticShift(3)(seq)

    def block(h, filters, width, pool):
        h = L.Conv1D(filters, width, padding="same", use_bias=False)(Z.GELU()(h))
        h = L.BatchNormalization()(h)
        return L.MaxPooling1D(pool, padding="same")(h) if pool > 1 else h

    h = block(h, 12, 17, 3)
    for filters in (12, 14, 16, 18, 20, 22):
        h = block(h, filters, 5, 2)
    h = Z.GELU()(block(h, 8, 1, 1))
    h = L.Reshape((1, h.shape[1] * h.shape[2]))(h)
    h = L.Dropout(0.2)(L.BatchNormalization()(L.Dense(32, use_bias=False)(h)))
    h = L.Dense(cells, activation="sigmoid")(Z.GELU()(h))
    out = L.Flatten()(Z.SwitchReverse()([h, flag]))
    return M.randomise(keras.Model(i, out), 21, 0.3)


def danq(length=600, outputs=1):
    """a2z-chromatin's DanQ variant (twrightsman/a2z-regulatory build_DanQ), narrower:
    Conv1D(320, 26, relu, valid) -> Dropout(0.2) -> MaxPooling1D(13, 13) ->
    Bidirectional(LSTM(320)) (last state) -> Dropout(0.5) -> Dense(925, linear) ->
    Dense(1, sigmoid)."""
    i = keras.Input((length, 4), name="seq")
    h = L.MaxPooling1D(13, 13)(L.Dropout(0.2)(L.Conv1D(8, 26, activation="relu")(i)))
    h = L.Dense(10)(L.Dropout(0.5)(L.Bidirectional(L.LSTM(4))(h)))
    return M.randomise(keras.Model(i, L.Dense(outputs, activation="sigmoid")(h)), 22, 0.3)


def deepcpg_dna(length=1001, cells=3):
    """DeepCpG's DNA module (deepcpg/models/dna.py CnnL2h128, narrower): Conv1D(128, 11) ->
    Activation(relu) -> MaxPool 4 -> Conv1D(256, 3) -> relu -> MaxPool 2 -> Flatten ->
    Dense(128) -> relu -> Dropout -> one Dense(1, sigmoid) per cell."""
    i = keras.Input((length, 4), name="dna")
    h = L.MaxPooling1D(4)(L.Activation("relu")(L.Conv1D(8, 11)(i)))
    h = L.MaxPooling1D(2)(L.Activation("relu")(L.Conv1D(12, 3)(h)))
    h = L.Dropout(0.0)(L.Activation("relu")(L.Dense(16)(L.Flatten()(h))))
    outs = [L.Dense(1, activation="sigmoid", name=f"cpg_cell{c}")(h) for c in range(cells)]
    return M.randomise(keras.Model(i, outs), 23, 0.3)


def trednet(length=2000, features=16, phase_two_outputs=1):
    """TREDNet's two phases scored as one model from DNA: a DeepSEA-like phase one
    (convolution/pooling, dense, sigmoid chromatin features; its own layers were not seen)
    whose sigmoid outputs, reshaped to (F, 1) as Kipoi's model.py feeds them, go through phase
    two as published (okurman/TREDNet define_model): Conv1D(64, 4, relu) -> BatchNorm ->
    MaxPool 2 -> Dropout -> Conv1D(128, 2, relu) -> Dropout -> Flatten -> Dense(100, relu) ->
    Dense(50, relu) -> Dense(1, sigmoid); narrower."""
    i = keras.Input((length, 4), name="input")
    h = L.MaxPooling1D(4, 4)(L.Conv1D(8, 8, activation="relu")(i))
    h = L.MaxPooling1D(4, 4)(L.Conv1D(8, 8, activation="relu")(h))
    phase_one = L.Dense(features, activation="sigmoid", name="phase_one")(
        L.Dense(16, activation="relu")(L.Flatten()(h)))
    h = L.Reshape((features, 1))(phase_one)
    h = L.Dropout(0.4)(L.MaxPooling1D(2)(L.BatchNormalization()(
        L.Conv1D(6, 4, activation="relu", name="phase_two_conv1")(h))))
    h = L.Dropout(0.4)(L.Conv1D(8, 2, activation="relu", name="phase_two_conv2")(h))
    h = L.Dense(6, activation="relu")(L.Dense(8, activation="relu")(L.Flatten()(h)))
    out = L.Dense(phase_two_outputs, activation="sigmoid", name="phase_two")(h)
    return M.randomise(keras.Model(i, out), 24, 0.3)


#: config name -> (builder, DNA input length)
TEST_ARCHITECTURES = {
    "MPRA-DragoNN": (mpra_dragonn_conv, 145),
    "CpGenie": (cpgenie, 1001),
    "DeepSTARR": (deepstarr, 249),
    "Divergent421": (divergent421, 1000),
    "scBasset": (scbasset, 1344),
    "a2z-chromatin": (danq, 600),
    "DeepCpG-DNA": (deepcpg_dna, 1001),
    "TREDNet": (trednet, 2000),
}
