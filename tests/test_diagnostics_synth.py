"""Synthetic sampling outputs in the layout of docs/architecture.md ("sampling output"),
shared by the diagnostics, report and CLI tests. No tests here."""

import json

import numpy as np


def gaussian_model(dim=2, names=None):
    """Standard normal target N(0, I_dim) as a mcmcadapt Model."""
    from mcmcadapt.models.model import Model

    return Model(lambda X: (-0.5 * np.sum(X * X, axis=1), -X), dim, names=names, name="gauss")


def ar1_chains(rng, chains, draws, k, rho, offsets=None):
    """AR(1) chains with stationary law N(offset, 1): x_t = rho x_{t-1} + sqrt(1-rho^2) e_t."""
    x = np.empty((chains, draws, k))
    x[:, 0] = rng.standard_normal((chains, k))
    s = np.sqrt(1.0 - rho * rho)
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + s * rng.standard_normal((chains, k))
    if offsets is not None:
        x += np.asarray(offsets, dtype=float).reshape(chains, 1, 1)
    return x


def make_idata(posterior, seed=0, diverging=None, energy=None, acceptance=None,
               n_grad_per_draw=3, n_grad_warmup=12000, iterations=50, attrs=None,
               dims=None, with_warmup=True):
    """A DataTree with every group of the sampling output; ``posterior`` maps names to
    (chain, draw, ...) arrays."""
    import arviz_base as azb
    import xarray as xr

    rng = np.random.default_rng(seed)
    first = next(iter(posterior.values()))
    chains, draws = first.shape[:2]
    if acceptance is None:
        acceptance = rng.uniform(0.5, 0.9, size=(chains, draws))
    stats = {
        "acceptance_rate": acceptance,
        "step_size": np.full((chains, draws), 0.3),
        "diverging": (np.zeros((chains, draws), bool) if diverging is None else diverging),
        "lp": rng.normal(size=(chains, draws)),
        "n_grad": np.full((chains, draws), n_grad_per_draw, dtype=np.int64),
    }
    if energy is not None:
        stats["energy"] = energy
    groups = {"posterior": posterior, "sample_stats": stats}
    if with_warmup:
        groups["warmup_posterior"] = {k: v[:, :10] for k, v in posterior.items()}
        groups["warmup_sample_stats"] = {k: v[:, :10] for k, v in stats.items()}
    root = {
        "model": "gauss", "kernel": "mala", "objective": "speed", "estimator": "stein",
        "n_grad_warmup": n_grad_warmup, "n_grad_sampling": int(stats["n_grad"].sum()),
        "chains_sampled": chains,
        "seed": json.dumps(seed), "settings": json.dumps({"chains": 64, "steps": iterations}),
        "interrupted": 0,
    }
    root.update(attrs or {})
    tree = azb.from_dict(groups, dims=dims, save_warmup=True)
    tree.attrs.update(root)
    it = np.arange(iterations)
    adapt = xr.Dataset(
        {"objective": ("iteration", -1.0 / (1.0 + it) + 0.01 * rng.normal(size=iterations)),
         "acceptance_rate": ("iteration", 0.57 + 0.1 * np.exp(-it / 10.0)),
         "step_size": ("iteration", 0.1 + 0.2 * (1 - np.exp(-it / 8.0))),
         "param_step_size": ("param_iteration", 0.1 + 0.2 * (1 - np.exp(-it / 8.0))),
         "param_inv_mass_diag": (("param_iteration", "param_inv_mass_diag_dim_0"),
                                 1.0 + np.outer(1 - np.exp(-it / 8.0), np.arange(1, 3)))},
        coords={"iteration": it, "param_iteration": it})
    tree["adaptation"] = xr.DataTree(adapt)
    return tree
