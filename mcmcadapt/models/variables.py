"""Named, shaped variables laid out in a model's flat parameter vector.

A model's parameters are one float64 vector of length ``dim``; names split it into
variables (``"mu"``, ``"theta[8]"``, ``"W1[14,50]"``) so draws map to named ArviZ
variables. Each variable occupies a contiguous slice and is stored row-major
(C order) inside it.
"""

import re
from typing import NamedTuple

import numpy as np

from .._validation import positive_int
from ..errors import InputError

_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[\s*([0-9,\s]*)\s*\])?\s*$")


class Variable(NamedTuple):
    """One named block of the flat vector: ``x[..., slice]`` reshaped to ``shape``."""

    name: str
    shape: tuple
    slice: slice

    @property
    def size(self):
        return self.slice.stop - self.slice.start


def _parse_string(spec):
    m = _NAME.match(spec)
    if m is None:
        raise InputError(
            f"cannot parse variable name {spec!r}; use an identifier optionally followed by "
            "a shape in brackets, e.g. 'mu', 'theta[8]' or 'W[3,4]'."
        )
    name, dims = m.group(1), m.group(2)
    if dims is None:
        return name, ()
    parts = [p for p in dims.replace(" ", "").split(",") if p]
    if not parts:
        raise InputError(f"variable {spec!r} has empty brackets; write e.g. 'theta[8]'.")
    return name, tuple(int(p) for p in parts)


def _parse_one(spec):
    if isinstance(spec, str):
        return _parse_string(spec)
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
        name, shape = spec
        if isinstance(shape, (int, np.integer)):
            shape = (shape,)
        try:
            shape = tuple(positive_int(s, "size", minimum=0, error=InputError) for s in shape)
        except (TypeError, InputError):
            raise InputError(
                f"variable {name!r}: shape must be an int or a tuple of ints, got {shape!r}."
            ) from None
        if _NAME.match(name) is None or "[" in name:
            raise InputError(f"variable name {name!r} is not an identifier.")
        return name, shape
    raise InputError(
        f"cannot interpret variable spec {spec!r}; give a string like 'theta[8]' or a "
        "(name, shape) pair."
    )


def parse_variables(names, dim):
    """Turn a names spec into a list of :class:`Variable` covering ``0..dim``.

    ``names`` is None (one vector variable ``"x"`` of shape ``(dim,)``), a string, or a
    list of strings / ``(name, shape)`` pairs. The sizes must add up to ``dim``.
    """
    if names is None:
        names = [("x", (dim,))]
    elif isinstance(names, str) or (
        isinstance(names, tuple) and len(names) == 2 and isinstance(names[0], str)
        and not isinstance(names[1], str)
    ):
        names = [names]
    if not isinstance(names, (list, tuple)):
        raise InputError(f"names must be a string or a list of variable specs, got {names!r}.")
    out, start, seen = [], 0, set()
    for spec in names:
        name, shape = _parse_one(spec)
        if any(s < 1 for s in shape):
            raise InputError(f"variable {name!r} has a non-positive dimension in shape {shape}.")
        if name in seen:
            raise InputError(f"variable name {name!r} appears twice; names must be unique.")
        seen.add(name)
        size = 1
        for s in shape:
            size *= s
        out.append(Variable(name, shape, slice(start, start + size)))
        start += size
    if start != dim:
        listing = ", ".join(f"{v.name}{list(v.shape) if v.shape else ''}={v.size}" for v in out)
        raise InputError(
            f"the variables ({listing}) have {start} entries in total but the model has "
            f"dim={dim}; make the shapes add up to dim."
        )
    return out
