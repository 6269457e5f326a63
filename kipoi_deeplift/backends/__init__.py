"""Frameworks that run DeepLIFT's passes, each behind :class:`kipoi_deeplift.core.backend.Backend`.

``tf`` (TensorFlow: Keras 3 and tf_keras) walks the model into a plan, resolves each step's
rules once and compiles the passes.
"""
