"""The ``mcmcadapt`` command line.

``mcmcadapt run [MODEL]`` tunes a kernel, samples, and writes ``idata.nc`` and
``report.html`` to ``--out``; ``mcmcadapt resume IDATA.nc`` continues its chains (the draws
an interrupted run still owes, or ``--draws`` more); ``mcmcadapt report IDATA.nc`` re-renders
the report; ``mcmcadapt models`` lists the built-in models. MODEL is a built-in name or
``path/to/file.py:function`` where ``function()`` returns a :class:`~mcmcadapt.models.Model`.
"""

import argparse
import difflib
import importlib.util
import json
import os
import pathlib
import shlex
import sys
import time

from . import errors
from .datasets.paths import DataNotFoundError
from .errors import InputError

DEFAULT_MODEL = "bnn-breast-cancer"
# Options of `mcmcadapt run` not given on the command line.
RUN_DEFAULTS = {"kernel": "mala", "objective": "speed", "estimator": "stein", "chains": 4,
                "tune_chains": 64, "steps": 500, "draws": 1000}
# The default job (`mcmcadapt run` without MODEL) overrides these. On the 1601-weight BNN,
# MALA at this budget left R-hat of the predictions at 1.01-1.04; HMC reaches R-hat <= 1.002
# and min bulk ESS ~3900 of 8000 draws in about 1.5e5 gradient evaluations.
DEFAULT_JOB = {"kernel": "hmc", "chains": 8, "tune_chains": 32, "steps": 200, "draws": 1000}
IDATA_FILE = "idata.nc"
BASELINE_FILE = "baseline.nc"
REPORT_FILE = "report.html"
NETCDF_ENGINE = "h5netcdf"
# Exit status after Ctrl-C (128 + SIGINT), once what was sampled has been written; after a
# model failure that stopped sampling (the draws before it are written too).
EXIT_INTERRUPTED = 130
EXIT_MODEL_FAILED = 1


class CLIError(InputError):
    """A command-line argument that names no usable model or file."""


# mcmcadapt's own errors for bad input: shown as one line; anything else keeps its traceback.
_USER_ERRORS = tuple(v for v in vars(errors).values()
                     if isinstance(v, type) and issubclass(v, ValueError)) + (DataNotFoundError,)


# ---- models -----------------------------------------------------------------------------

def builtin_names():
    from .models import targets

    return sorted(targets.available())


def _suggest(name, choices):
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean {', '.join(close)}?" if close else ""


def _check_model(obj, where):
    from .models.model import Model

    if not isinstance(obj, Model):
        raise CLIError(f"{where} returned {type(obj).__name__}, not a mcmcadapt.models.Model; "
                       "make it `return Model(logp_and_grad=..., dim=...)`.")
    return obj


def _split_spec(spec):
    """``path/to/file.py:function`` -> (path, ":", function); ("file.py", "", "") without one."""
    return spec.rpartition(":") if ":" in spec else (spec, "", "")


def load_model_file(spec):
    """``path/to/file.py:function`` -> ``function()``, which must return a Model."""
    path_str, _, func = _split_spec(spec)
    path = pathlib.Path(path_str)
    if not path.is_file():
        raise CLIError(f"model file {path_str!r} does not exist (from MODEL {spec!r}); give "
                       "path/to/file.py:function or a built-in name (mcmcadapt models).")
    module_name = f"_mcmcadapt_user_model_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None:
        raise CLIError(f"cannot load {path_str!r} as Python; give a .py file.")
    module = importlib.util.module_from_spec(loader)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        # as Python does for a script: the file may import modules kept beside it (also
        # lazily, from inside the model, so the folder stays on the path)
        sys.path.insert(0, folder)
    try:
        loader.loader.exec_module(module)
    except Exception as exc:  # the user's file: report whatever it raised, with its type
        raise CLIError(f"importing {path_str!r} failed: {type(exc).__name__}: {exc}") from exc
    functions = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module_name)
    if not func or not callable(getattr(module, func, None)):
        what = "no function given" if not func else f"{path_str!r} has no function {func!r}"
        listing = ", ".join(functions) if functions else "(none defined)"
        raise CLIError(f"{what}; write {path_str}:FUNCTION with one of: {listing}."
                       + (_suggest(func, functions) if func else ""))
    try:
        model = getattr(module, func)()
    except Exception as exc:
        raise CLIError(f"{path_str}:{func}() raised {type(exc).__name__}: {exc}") from exc
    return _check_model(model, f"{path_str}:{func}()")


def recorded_spec(spec):
    """The model spec to store with a run: a file's path made absolute, so that ``report``
    and ``resume`` find it from any working directory."""
    if ":" in spec or spec.endswith(".py"):
        path_str, sep, func = _split_spec(spec)
        return f"{pathlib.Path(path_str).resolve()}{sep}{func}"
    return spec


def resolve_model(spec):
    """A Model from a built-in name or ``file.py:function``."""
    if ":" in spec or spec.endswith(".py"):
        return load_model_file(spec)
    from .models import targets

    names = builtin_names()
    if spec not in names:
        raise CLIError(f"unknown model {spec!r}.{_suggest(spec, names)} Built-in models: "
                       f"{', '.join(names)}; or give path/to/file.py:function.")
    return _check_model(targets.get(spec), f"built-in model {spec!r}")


# ---- files ------------------------------------------------------------------------------

def save_idata(idata, path):
    """Write a DataTree as NetCDF-4 (h5netcdf engine)."""
    try:
        idata.to_netcdf(path, engine=NETCDF_ENGINE)
    except ImportError as exc:
        raise CLIError(f"writing {path} needs h5py (the HDF5 backend of h5netcdf): "
                       f"pip install h5py ({exc})") from exc


def load_idata(path):
    """Read a DataTree written by :func:`save_idata` fully into memory (file closed)."""
    import xarray as xr

    path = pathlib.Path(path)
    if not path.is_file():
        raise CLIError(f"no such file: {path}; give the idata.nc written by `mcmcadapt run`.")
    try:
        with xr.open_datatree(path, engine=NETCDF_ENGINE) as tree:
            tree = tree.load()
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path} is not a NetCDF file written by mcmcadapt: {exc}") from exc
    if "posterior" not in tree.children:
        raise CLIError(f"{path} has no 'posterior' group (groups: {sorted(tree.children)}); "
                       "give the idata.nc written by `mcmcadapt run`.")
    return tree


def load_baseline(path, given):
    """The baseline run at ``path``; None if there is no file and it was not ``given``.
    Whether it belongs to the run is checked with the diagnostics (:func:`_write_report`)."""
    if not path.is_file():
        if given:
            raise CLIError(f"no such baseline file: {path}.")
        return None
    return load_idata(path)


# ---- commands ---------------------------------------------------------------------------

def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def _tune_and_sample(model, args, objective, seed, label):
    from . import sample, tune

    t0 = time.perf_counter()
    _say(f"[{label}] tuning {args.kernel} by '{objective}': {args.tune_chains} chains x "
         f"{args.steps} steps ...")
    result = tune(model, kernel=args.kernel, objective=objective, estimator=args.estimator,
                  chains=args.tune_chains, steps=args.steps, seed=seed, progress=args.progress,
                  kernel_options=dict(args.kernel_options or []),
                  objective_options=(dict(args.objective_options or [])
                                     if objective == args.objective else None))
    t1 = time.perf_counter()
    note = " (interrupted: sampling with the parameters tuned so far)" if result.interrupted else ""
    t = result.timing
    split = (f"model {t['model']:.1f} s, kernel {t['kernel']:.1f} s, adaptation "
             f"{max(t['total'] - t['model'] - t['kernel'], 0.0):.1f} s")
    _say(f"[{label}] tuned in {t1 - t0:.1f} s ({split}){note}; sampling {args.chains} "
         f"chains x {args.draws} draws ...")
    idata = sample(model, result, chains=args.chains, draws=args.draws, seed=seed + 1,
                   progress=args.progress)
    _say(f"[{label}] sampled in {time.perf_counter() - t1:.1f} s")
    return result, idata


def _finish(idata, model, spec):
    """Add the predictive group (models that define one; stored, so that the saved file
    is diagnosed without the model) and the model spec attribute."""
    from .diagnostics.predictive import with_model_predictive

    if idata["posterior"].sizes.get("draw", 0) > 0:
        idata = with_model_predictive(idata, model)
    idata.attrs["model_spec"] = spec
    return idata


def _write_report(idata, path, model, result=None, baseline=None, baseline_path=None,
                  baseline_given=False):
    """Print the diagnostics and write the report to ``path``; None if too few draws. A
    baseline of another model or other quantities (the report's own check) is an error when
    ``baseline_given``, else ignored with a note."""
    from .diagnostics import summarize
    from .report import report
    from .report.build import baseline_problem

    n_draws = idata["posterior"].sizes.get("draw", 0)
    if n_draws < 4:
        _say(f"only {n_draws} draws per chain were completed: too few to diagnose (need 4); "
             "no report written.")
        return None
    _say("diagnostics and report ...")
    summary = summarize(idata, model)
    if baseline is not None:
        # another model's baseline is not summarised with this run's model; named as the
        # user gave it when both runs record that
        key = "model_spec" if all("model_spec" in t.attrs for t in (idata, baseline)) else "model"
        why = baseline_problem((idata.attrs.get(key), None), (baseline.attrs.get(key), None))
        if why is None:
            baseline = summarize(baseline, model)
            why = baseline_problem((summary.run.get("model"), summary.labels),
                                   (baseline.run.get("model"), baseline.labels))
        if why and baseline_given:
            raise CLIError(f"baseline {baseline_path} does not belong to this run: {why}.")
        if why:
            _say(f"ignoring {baseline_path}: {why}.")
            baseline = None
    print(summary.to_text())
    return report(idata, result, path, model=model, baseline=baseline, summary=summary)


def fill_run_defaults(args):
    """Options not given take the default job's values (no MODEL) or :data:`RUN_DEFAULTS`."""
    defaults = dict(RUN_DEFAULTS, **(DEFAULT_JOB if args.model is None else {}))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def _stopped(idata, path):
    """Say how a run that stopped early can go on; its exit status (0 if it did not)."""
    if not int(idata.attrs.get("interrupted", 0)):
        return 0
    again = f"mcmcadapt resume {shlex.quote(str(path))}"
    if idata.attrs.get("error"):
        _say(f"sampling stopped because the model failed at {idata.attrs['error']}")
        if "transition" in idata.attrs:
            print(f"once the model is fixed, continue with: {again}")
        return EXIT_MODEL_FAILED
    if "transition" in idata.attrs:
        print(f"continue with: {again}")
    return EXIT_INTERRUPTED


def cmd_run(args):
    fill_run_defaults(args)
    spec = args.model or DEFAULT_MODEL
    model = resolve_model(spec)
    out_dir = pathlib.Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"--out {args.out!r} is an existing file; give a folder (new or "
                       "existing) for idata.nc and report.html.")
    # the folder is made after sampling (a failed start leaves none); a run that could not
    # save what it sampled is found out now instead
    nearest = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not nearest.is_dir() or not os.access(nearest, os.W_OK | os.X_OK):
        raise CLIError(f"cannot write to {nearest} (for --out {args.out!r}); give a folder "
                       "you can write to.")
    _say(f"model {spec}: {model.dim} parameters; output in {out_dir}/")
    result, idata = _tune_and_sample(model, args, args.objective, args.seed, "run")
    interrupted = bool(idata.attrs.get("interrupted", 0)) or result.interrupted
    idata = _finish(idata, model, recorded_spec(spec))
    out_dir.mkdir(parents=True, exist_ok=True)  # only now: a failed start leaves no folder
    save_idata(idata, out_dir / IDATA_FILE)
    stale = out_dir / BASELINE_FILE
    if stale.is_file():
        # an earlier run's baseline: this run's report must not compare against it
        stale.unlink()
        _say(f"removed {stale}, the baseline of an earlier run in this folder")
    baseline = None
    if args.baseline and not interrupted:
        _, baseline = _tune_and_sample(model, args, "window", args.seed, "baseline")
        baseline = _finish(baseline, model, recorded_spec(spec))
        save_idata(baseline, out_dir / BASELINE_FILE)
        interrupted = bool(baseline.attrs.get("interrupted", 0))
    path = _write_report(idata, out_dir / REPORT_FILE, model, result, baseline)
    print(f"\ndraws: {out_dir / IDATA_FILE}")
    if path is not None:
        print(f"report: {path}")
    status = _stopped(idata, out_dir / IDATA_FILE)
    return status or (EXIT_INTERRUPTED if interrupted else 0)


def _model_of(idata, given):
    """The model named by ``given`` or, without it, the one the run recorded."""
    spec = given or idata.attrs.get("model_spec")
    if not spec:
        raise CLIError("the file records no model; give it with --model (a built-in name or "
                       "file.py:function).")
    try:
        return str(spec), resolve_model(str(spec))
    except CLIError as exc:
        if given:
            raise
        raise CLIError(f"{exc} (This is the model the run recorded; give it with --model.)"
                       ) from None


def cmd_resume(args):
    from . import resume

    path = pathlib.Path(args.idata)
    idata = load_idata(path)
    spec, model = _model_of(idata, args.model)
    spec = recorded_spec(spec)
    done = idata["posterior"].sizes.get("draw", 0)
    _say(f"model {spec}: continuing {idata['posterior'].sizes.get('chain', 0)} chains from "
         f"draw {done} ...")
    t0 = time.perf_counter()
    idata = resume(model, idata, draws=args.draws, seed=args.seed, progress=args.progress)
    added = idata["posterior"].sizes["draw"] - done
    _say(f"added {added} draws per chain in {time.perf_counter() - t0:.1f} s")
    idata = _finish(idata, model, spec)
    # written beside the old file first: an interrupted write leaves the old draws intact
    tmp = path.with_name(path.name + ".partial")
    save_idata(idata, tmp)
    tmp.replace(path)
    found = path.with_name(BASELINE_FILE)
    out = _write_report(idata, path.with_name(REPORT_FILE), model, None,
                        load_baseline(found, given=False), found)
    print(f"\ndraws: {path}")
    if out is not None:
        print(f"report: {out}")
    return _stopped(idata, path)


def cmd_report(args):
    idata = load_idata(args.idata)
    out = pathlib.Path(args.out) if args.out else pathlib.Path(args.idata).with_name(REPORT_FILE)
    spec = args.model or idata.attrs.get("model_spec")
    model = None
    if spec:
        try:
            model = resolve_model(str(spec))
        except _USER_ERRORS as exc:
            if args.model:
                raise
            _say(f"model {spec!r} not available ({exc}); the report will have no KSD.")
    given = bool(args.baseline)
    found = (pathlib.Path(args.baseline) if given
             else pathlib.Path(args.idata).with_name(BASELINE_FILE))
    if _write_report(idata, out, model, None, load_baseline(found, given), found,
                     baseline_given=given) is None:
        return 1
    print(f"report: {out}")
    return 0


def cmd_models(args):
    from .datasets.paths import ENV_VAR
    from .models.targets import NEEDS_SHARED_DATA

    names = builtin_names()
    width = max(map(len, names))
    for name in names:
        note = (f"  needs the reference data (../shared/data or {ENV_VAR})"
                if name in NEEDS_SHARED_DATA else "")
        print(f"{name:<{width}}{note}".rstrip())
    return 0


# ---- parsing ----------------------------------------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _key_value(text):
    """KEY=VALUE, the value read as JSON (true, 16, 0.5, "diag") or else taken as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE (e.g. step_spread=true or n_steps=16), got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def build_parser():
    p = argparse.ArgumentParser(
        prog="mcmcadapt",
        description="Tune an MCMC kernel by entropy-regularised stochastic gradient, sample, "
                    "and write diagnostics.")
    sub = p.add_subparsers(dest="command", required=True)

    job = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in DEFAULT_JOB.items())
    r = sub.add_parser("run", help="tune, sample, write idata.nc and report.html",
                       description="Tune, sample, diagnose. MODEL is a built-in name (see "
                                   "`mcmcadapt models`) or path/to/file.py:function returning "
                                   f"a Model. Without MODEL: the default job, {DEFAULT_MODEL} "
                                   f"with {job} unless given.")
    r.add_argument("model", nargs="?", metavar="MODEL",
                   help=f"built-in name or file.py:function (default {DEFAULT_MODEL})")
    r.add_argument("--kernel", help="rwm, mala, ula, hmc, sgld, learned (default "
                   f"{RUN_DEFAULTS['kernel']})")
    r.add_argument("--kernel-option", dest="kernel_options", action="append",
                   type=_key_value, default=None, metavar="KEY=VALUE",
                   help="a kernel constructor option, repeatable (e.g. --kernel hmc "
                        "--kernel-option step_spread=true --kernel-option n_steps=16)")
    r.add_argument("--objective-option", dest="objective_options", action="append",
                   type=_key_value, default=None, metavar="KEY=VALUE",
                   help="an option of --objective (not of the --baseline's window), repeatable "
                        "(e.g. --objective kl --objective-option coordinates=64)")
    r.add_argument("--objective", help="speed, kl or window (default "
                   f"{RUN_DEFAULTS['objective']})")
    r.add_argument("--estimator", help="score estimator for the entropy gradient (default "
                   f"{RUN_DEFAULTS['estimator']})")
    r.add_argument("--chains", type=_positive_int,
                   help=f"chains to sample (default {RUN_DEFAULTS['chains']})")
    r.add_argument("--tune-chains", type=_positive_int,
                   help=f"population size during tuning (default {RUN_DEFAULTS['tune_chains']})")
    r.add_argument("--steps", type=_positive_int,
                   help=f"adaptation iterations (default {RUN_DEFAULTS['steps']})")
    r.add_argument("--draws", type=_positive_int,
                   help=f"draws per chain (default {RUN_DEFAULTS['draws']})")
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--out", default="mcmcadapt-out", help="output folder (default mcmcadapt-out)")
    r.add_argument("--baseline", action="store_true",
                   help="also run window adaptation with the same budget and compare ESS per "
                        "gradient in the report")
    r.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                   default=None, help="no progress display (default: shown on a terminal)")
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="re-render report.html from an idata.nc",
                         description="Re-render the HTML report of a saved run.")
    rep.add_argument("idata", metavar="IDATA.nc")
    rep.add_argument("--out", help="report path (default: report.html beside IDATA.nc)")
    rep.add_argument("--model", help="model (name or file.py:function) for the KSD; default: "
                                     "the one recorded in the file")
    rep.add_argument("--baseline", help="window-adaptation run to compare (default: "
                                        "baseline.nc beside IDATA.nc, if any)")
    rep.set_defaults(func=cmd_report)

    res = sub.add_parser("resume", help="continue the chains of a saved run",
                         description="Continue the chains of a run saved by `mcmcadapt run` "
                                     "(or an earlier resume) with its tuned kernel, append "
                                     "the draws to IDATA.nc and re-render the report. Without "
                                     "--draws: the draws an interrupted run still owes.")
    res.add_argument("idata", metavar="IDATA.nc")
    res.add_argument("--draws", type=_positive_int,
                     help="draws to add per chain (default: those still owed)")
    res.add_argument("--seed", type=int, default=None,
                     help="random seed (default: continue the saved random stream)")
    res.add_argument("--model", help="model (name or file.py:function); default: the one "
                                     "recorded in the file")
    res.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                     default=None, help="no progress display (default: shown on a terminal)")
    res.set_defaults(func=cmd_resume)

    m = sub.add_parser("models", help="list the built-in models")
    m.set_defaults(func=cmd_models)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _USER_ERRORS as exc:
        print(f"mcmcadapt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmcmcadapt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
