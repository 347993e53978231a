"""Parameterised transition kernels: init/step over a population, with reverse-mode
derivatives of one step with respect to the kernel parameters φ and the input positions.
The contract is in docs/architecture.md ("transitions")."""

from .._validation import check_options
from ..errors import HyperparameterError
from .base import Info, Noise, Proposal, State, Transition
from .gaussian import MALA, RWM, SGLD, ULA
from .hmc import HMC
from .learned import Learned

KERNELS = {"rwm": RWM, "mala": MALA, "ula": ULA, "hmc": HMC, "sgld": SGLD, "learned": Learned}


def make(kernel, **options):
    """A transition from its name (``"rwm"``, ``"mala"``, ``"ula"``, ``"hmc"``, ``"sgld"``,
    ``"learned"``) and constructor options; an existing Transition is returned unchanged."""
    if isinstance(kernel, Transition):
        if options:
            raise HyperparameterError("options cannot be applied to an already-built transition.")
        return kernel
    try:
        cls = KERNELS[str(kernel).lower()]
    except KeyError:
        raise HyperparameterError(
            f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}."
        ) from None
    check_options(cls, options, f"the {cls.name} kernel")
    return cls(**options)


__all__ = ["State", "Noise", "Proposal", "Info", "Transition", "RWM", "MALA", "ULA", "SGLD",
           "HMC", "Learned", "KERNELS", "make"]
