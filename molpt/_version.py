"""molpt's version, at the bottom of the package so that any layer can record it without
importing the public facade (``molpt/__init__.py``, which reaches every layer)."""

__version__ = "0.1.0"
