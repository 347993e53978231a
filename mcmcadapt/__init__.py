"""mcmcadapt: tune MCMC transition kernels by entropy-regularised stochastic gradient."""

__version__ = "0.1.0"
