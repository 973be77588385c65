"""cnnlens: a reproducible pipeline and report that shows what the layers of a CNN see."""

__version__ = "0.1.0"
