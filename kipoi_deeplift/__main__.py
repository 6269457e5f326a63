"""``python -m kipoi_deeplift ...``: the same command line as ``kipoi-deeplift``."""
from .cli import console

console()
