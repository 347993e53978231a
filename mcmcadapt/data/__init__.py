"""Data files shipped with the package (CSV, JSON), read by :mod:`mcmcadapt.datasets`."""
