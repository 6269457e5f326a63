"""Architectures of published zoo models, rebuilt with random weights for the groups whose files
are not at hand (layer types and wiring as published; sizes shrunk to keep the tests fast)."""
from __future__ import annotations

import keras

import _models as M

L = keras.layers


def mpra_dragonn_conv(length=145):
    """MPRA-DragoNN ConvModel: conv-BN-ReLU blocks, dense, 12 linear MPRA readouts."""
    i = keras.Input((length, 4), name="seq")
    h = i
    for j in range(3):
        h = L.Conv1D(12, 5, padding="same", name=f"conv{j}")(h)
        h = L.Activation("relu", name=f"relu{j}")(L.BatchNormalization(name=f"bn{j}")(h))
    h = L.Dense(16, activation="relu", name="fc")(L.Flatten(name="flat")(h))
    return M.randomise(keras.Model(i, L.Dense(12, name="readouts")(h)), 11, 0.2)


def cpgenie(length=500):
    """CpGenie: conv/max-pool blocks, dense layers, a two-class softmax."""
    i = keras.Input((length, 4), name="seq")
    h = i
    for j, f in enumerate((16, 24, 32)):
        h = L.MaxPooling1D(5, name=f"pool{j}")(L.Conv1D(f, 5, activation="relu",
                                                        name=f"conv{j}")(h))
    h = L.Dropout(0.5, name="drop")(L.Dense(16, activation="relu", name="fc")(L.Flatten()(h)))
    return M.randomise(keras.Model(i, L.Dense(2, activation="softmax", name="methyl")(h)), 12,
                       0.2)


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
    """Divergent421-style multi-task chromatin model: conv/max-pool, dense, sigmoid tasks."""
    i = keras.Input((length, 4), name="seq")
    h = L.MaxPooling1D(8, name="pool0")(L.Conv1D(16, 9, activation="relu", name="conv0")(i))
    h = L.MaxPooling1D(8, name="pool1")(L.Conv1D(16, 5, activation="relu", name="conv1")(h))
    h = L.Dense(32, activation="relu", name="fc")(L.Flatten()(h))
    return M.randomise(keras.Model(i, L.Dense(6, activation="sigmoid", name="tasks")(h)), 14,
                       0.2)


def bpnet(length=200, tasks=("Oct4", "Sox2")):
    """BPNet: dilated residual convolutions; per task a profile head (L, 2 strands) and a
    count head (log total count)."""
    i = keras.Input((length, 4), name="seq")
    h = L.Conv1D(16, 25, padding="same", activation="relu", name="first")(i)
    for j in range(1, 5):
        h = L.Add(name=f"res{j}")([h, L.Conv1D(16, 3, padding="same", dilation_rate=2 ** j,
                                               activation="relu", name=f"dil{j}")(h)])
    outs = []
    for t in tasks:
        outs.append(L.Conv1D(2, 25, padding="same", name=f"{t}_profile")(h))
        outs.append(L.Dense(2, name=f"{t}_counts")(L.GlobalAveragePooling1D()(h)))
    return M.randomise(keras.Model(i, outs), 15, 0.15)


def deepmel(length=500, topics=3):
    """DeepMEL: forward and reverse-complement inputs through shared conv and BiLSTM layers
    (DeepFlyBrain and DeepLiver are the same family, with their own topic counts)."""
    fwd, rc = keras.Input((length, 4), name="input_1"), keras.Input((length, 4), name="input_2")
    conv = L.Conv1D(8, 20, activation="relu", name="conv")
    lstm = L.Bidirectional(L.LSTM(4), name="bilstm")
    h = L.Concatenate()([lstm(L.MaxPooling1D(10)(conv(x))) for x in (fwd, rc)])
    return keras.Model([fwd, rc], L.Dense(topics, activation="sigmoid", name="topics")(h))


def scbasset(length=1344, cells=6):
    """scBasset as Kipoi serves it (scbasset/model.json: layer types and wiring), narrower:
    augmentation layers (identity at inference), GELU before every convolution, a stem, a
    pooling tower, a 1x1 convolution, a 32-unit bottleneck on a (1, L*C) reshape, a sigmoid
    Dense per cell, SwitchReverse, Flatten."""
    from kipoi_deeplift.kipoi import zoo_layers as Z

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
    """DanQ's layout (convolution, max pooling, BiLSTM, dense), which a2z-chromatin adapts."""
    i = keras.Input((length, 4), name="seq")
    h = L.MaxPooling1D(13, 13)(L.Conv1D(8, 26, activation="relu")(i))
    h = L.Bidirectional(L.LSTM(4, return_sequences=True))(L.Dropout(0.2)(h))
    h = L.Dense(8, activation="relu")(L.Flatten()(L.Dropout(0.5)(h)))
    return M.randomise(keras.Model(i, L.Dense(outputs, activation="sigmoid")(h)), 22, 0.3)


def deepcpg_dna(length=1001, cells=3):
    """DeepCpG's DNA module (CnnL2h128, narrower): two convolution/pooling blocks, a dense
    layer, one sigmoid output per cell."""
    i = keras.Input((length, 4), name="dna")
    h = L.MaxPooling1D(4)(L.Conv1D(8, 11, activation="relu")(i))
    h = L.MaxPooling1D(2)(L.Conv1D(12, 3, activation="relu")(h))
    h = L.Dropout(0.0)(L.Dense(16, activation="relu")(L.Flatten()(h)))
    outs = [L.Dense(1, activation="sigmoid", name=f"cpg_cell{c}")(h) for c in range(cells)]
    return M.randomise(keras.Model(i, outs), 23, 0.3)


def trednet(length=2000, features=8, phase_two_outputs=1):
    """TREDNet's two phases: a DeepSEA-like phase one (chromatin features from DNA) whose
    sigmoid outputs feed a second network (phase two); scored as one model from DNA."""
    i = keras.Input((length, 4), name="input")
    h = L.MaxPooling1D(4, 4)(L.Conv1D(8, 8, activation="relu")(i))
    h = L.MaxPooling1D(4, 4)(L.Conv1D(8, 8, activation="relu")(h))
    phase_one = L.Dense(features, activation="sigmoid", name="phase_one")(
        L.Dense(16, activation="relu")(L.Flatten()(h)))
    h = L.Dense(8, activation="relu", name="phase_two_hidden")(phase_one)
    out = L.Dense(phase_two_outputs, activation="sigmoid", name="phase_two")(h)
    return M.randomise(keras.Model(i, out), 24, 0.3)


#: config name -> (builder, DNA input length)
TEST_ARCHITECTURES = {
    "MPRA-DragoNN": (mpra_dragonn_conv, 145),
    "CpGenie": (cpgenie, 500),
    "DeepSTARR": (deepstarr, 249),
    "Divergent421": (divergent421, 1000),
    "scBasset": (scbasset, 1344),
    "a2z-chromatin": (danq, 600),
    "DeepCpG-DNA": (deepcpg_dna, 1001),
    "TREDNet": (trednet, 2000),
}
