"""``FastLearned``: the name under which the meta package first shipped a compiled learned
sampler. The compiled forward pass and VJP are now the kernel itself
(:class:`~mcmcadapt.transitions.Learned`, :mod:`mcmcadapt.transitions._learned_numba`), so
this subclass only keeps the name (and its ``repr``, which result files record)."""

from ..transitions.learned import Learned


class FastLearned(Learned):
    """:class:`~mcmcadapt.transitions.Learned` under its meta-package name: same constructor,
    φ, noise, proposals and VJPs."""

    def __repr__(self):
        return "Fast" + super().__repr__()
