"""DeepLIFT importance scores for Kipoi models on TensorFlow 2 / Keras 3."""
from ._version import __version__
from .engine import RULES, ConvergenceWarning, DeepLift
from . import references
from .references import dinuc_shuffle
from .result import Explanation
from .rules import register_rule

__all__ = ["DeepLift", "Explanation", "ConvergenceWarning", "RULES", "dinuc_shuffle",
           "register_rule", "__version__"]
