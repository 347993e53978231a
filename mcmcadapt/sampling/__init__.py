"""The sampling loop and the ArviZ DataTree it produces."""

from .sample import sample

__all__ = ["sample"]
