"""The sampling loop, resuming a saved run, and the ArviZ DataTree they produce."""

from .resume import resume
from .sample import sample

__all__ = ["resume", "sample"]
