"""ULMFiT, taught by doing it for real."""

__version__ = "0.1.0"
