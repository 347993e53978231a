"""Trained learned-sampler parameters in a small plain-JSON file.

Layout::

    {"format": "mcmcadapt-learned-sampler", "version": 1,
     "hidden": H, "zeta": ζ, "phi": [5H + 2 floats],
     "phi_layout": "w_x(H) w_g(H) b(H) w_drift(H) b_drift w_var(H) b_var",
     "info": {...}}                      # free-form, JSON-serialisable (training settings)

Floats are written with ``repr`` precision, so a load gives back φ bit for bit.
"""

import json
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .fast import FastLearned

FORMAT = "mcmcadapt-learned-sampler"
VERSION = 1
LAYOUT = "w_x(H) w_g(H) b(H) w_drift(H) b_drift w_var(H) b_var"


def _finite(value):
    """Whether every number in a JSON-like structure is finite (JSON has no NaN)."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, np.ndarray):
        return not np.issubdtype(value.dtype, np.number) or bool(np.all(np.isfinite(value)))
    if isinstance(value, (float, np.floating)):
        return bool(np.isfinite(value))
    return True


def save_sampler(path, transition, phi, info=None):
    """Write φ of a learned kernel (``transition.hidden``, ``.zeta``) and ``info`` to JSON."""
    if not (hasattr(transition, "hidden") and hasattr(transition, "zeta")):
        raise InputError(f"only learned coordinate-wise kernels can be saved; got {transition!r}.")
    phi = np.asarray(phi, dtype=np.float64)
    H = int(transition.hidden)
    if phi.shape != (5 * H + 2,) or not np.all(np.isfinite(phi)):
        raise InputError(f"phi must be a finite vector of length 5·hidden + 2 = {5 * H + 2}; "
                         f"got shape {phi.shape}.")
    doc = {"format": FORMAT, "version": VERSION, "hidden": H, "zeta": float(transition.zeta),
           "phi": [float(v) for v in phi], "phi_layout": LAYOUT, "info": info or {}}
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name, e.g. {path / 'sampler.json'}.")
    if not _finite(doc):
        raise InputError("info holds NaN or infinite numbers, which JSON cannot store; replace "
                         "them (e.g. with None) before saving.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=_default) + "\n")
    return path


def _default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return repr(obj)


def load_sampler(path, batch_size=None, seed=0):
    """``(FastLearned(hidden, zeta, batch_size), phi, info)`` from a file of
    :func:`save_sampler`. ``batch_size`` is a property of the target, not of the trained
    sampler, so it is chosen at load time."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"sampler file {path} does not exist; train one first "
                         "(benchmarks/meta_bnn.py --train).") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:  # a folder, binary, not JSON
        raise InputError(f"sampler file {path} cannot be read: not valid JSON ({err}).") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path} is not a learned-sampler file (format {FORMAT!r} expected).")
    if doc.get("version") != VERSION:
        raise InputError(f"{path} has version {doc.get('version')!r}; this mcmcadapt reads "
                         f"version {VERSION}.")
    H = doc.get("hidden")
    raw = doc.get("phi", [])
    numbers = isinstance(raw, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    if not numbers:
        bad = next((v for v in raw if not isinstance(v, (int, float)) or isinstance(v, bool)),
                   raw) if isinstance(raw, list) else raw
        raise InputError(f"{path}: phi must be a list of numbers; found {bad!r}.")
    try:
        phi = np.asarray(raw, dtype=np.float64)
    except OverflowError:  # an integer beyond float64: not a finite value (named below)
        phi = np.full(len(raw), np.inf)
    zeta = doc.get("zeta")
    zeta_ok = (isinstance(zeta, (int, float)) and not isinstance(zeta, bool)
               and math.isfinite(zeta) and zeta > 0)
    if not isinstance(H, int) or H < 2 or phi.shape != (5 * H + 2,) \
            or not np.all(np.isfinite(phi)) or not zeta_ok:
        raise InputError(f"{path}: expected integer hidden >= 2, positive zeta and 5·hidden + 2 "
                         f"finite phi values; got hidden={H!r}, zeta={zeta!r}, {phi.size} values.")
    kernel = FastLearned(hidden=H, zeta=float(zeta), batch_size=batch_size, seed=seed)
    return kernel, phi, doc.get("info", {})
