"""earsiv: a write-once, provable archive for Turkish e-documents.

The public surface is the ``earsiv`` command and the HTTP API; the Python
packages below are internal and may change between versions.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
