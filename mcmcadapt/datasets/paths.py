"""Where the reference data sets live, and the error raised when they are absent."""

import os
from pathlib import Path

ENV_VAR = "MCMCADAPT_SHARED_DATA"

# mcmcadapt/datasets/paths.py -> the repository root in an editable install or a checkout.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class DataNotFoundError(FileNotFoundError, ValueError):
    """A reference data folder or file is missing. A ``FileNotFoundError`` (it is one) and a
    ``ValueError`` like every other mcmcadapt input error."""


def shared_data_root(root=None):
    """The reference data folder (``../shared/data`` beside the repository by default).

    Tried in order: ``root`` if given; the environment variable ``MCMCADAPT_SHARED_DATA``;
    ``<repo>/../shared/data`` where ``<repo>`` holds the ``mcmcadapt`` package; and
    ``../shared/data`` from the current directory. Raises :class:`DataNotFoundError`
    listing what was tried.
    """
    if root is not None:
        candidates = [Path(root)]
    else:
        candidates = []
        if os.environ.get(ENV_VAR):
            candidates.append(Path(os.environ[ENV_VAR]))
        candidates += [_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    candidates = list(dict.fromkeys(candidates))  # the repository may be the working folder
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"reference data folder not found (tried: {tried}). Pass root='/path/to/shared/data' "
        f"or set {ENV_VAR}; the folder holds uci_binary/ and logistic/ (see "
        "../shared/data/README.md)."
    )


def require_file(path):
    """``path`` as a Path if it is a file, else :class:`DataNotFoundError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(
            f"data file {path} is missing; check the root folder passed to the loader "
            f"(or {ENV_VAR})."
        )
    return path
