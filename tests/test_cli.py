"""The `mcmcadapt` command line: parsing, model resolution and its errors, an end-to-end run
into a temporary folder, Ctrl-C during sampling, and re-rendering the report from idata.nc."""

import json
import re
import textwrap

import numpy as np
import pytest

from mcmcadapt import cli
from mcmcadapt.cli import CLIError, build_parser, load_idata, main, resolve_model, save_idata

SMALL = ["--tune-chains", "16", "--steps", "60", "--chains", "2", "--draws", "120"]


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "user_models.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from mcmcadapt.models.model import Model

        def correlated():
            C = np.array([[1.0, 0.8], [0.8, 1.0]])
            P = np.linalg.inv(C)
            return Model(lambda X: (-0.5 * np.einsum("ij,jk,ik->i", X, P, X), -X @ P), 2,
                         names=["a", "b"], name="correlated")

        def not_a_model():
            return 42

        def broken():
            raise RuntimeError("no data here")
    """))
    return path


# ---- parsing ----------------------------------------------------------------------------

def test_run_defaults_and_options():
    args = cli.fill_run_defaults(build_parser().parse_args(["run"]))
    assert args.model is None
    for key, value in {**cli.RUN_DEFAULTS, **cli.DEFAULT_JOB}.items():
        assert getattr(args, key) == value
    assert args.seed == 0 and args.progress is None and not args.baseline
    args = cli.fill_run_defaults(build_parser().parse_args(["run", "gaussian", "--draws", "9"]))
    assert args.draws == 9
    assert all(getattr(args, k) == v for k, v in cli.RUN_DEFAULTS.items() if k != "draws")
    args = build_parser().parse_args(
        ["run", "m.py:f", "--kernel", "hmc", "--objective", "kl", "--estimator", "kde",
         "--chains", "3", "--draws", "50", "--steps", "7", "--seed", "5", "--out", "o",
         "--baseline", "--no-progress", "--tune-chains", "8"])
    assert (args.model, args.kernel, args.objective, args.estimator) == ("m.py:f", "hmc", "kl",
                                                                          "kde")
    assert (args.chains, args.draws, args.steps, args.seed, args.tune_chains) == (3, 50, 7, 5, 8)
    assert args.out == "o" and args.baseline and args.progress is False


def test_kernel_options_from_the_command_line(tmp_path, capsys):
    args = build_parser().parse_args(
        ["run", "--kernel-option", "step_spread=true", "--kernel-option", "n_steps=16",
         "--kernel-option", "precond=dense", "--kernel-option", "zeta=1e-3"])
    assert dict(args.kernel_options) == {"step_spread": True, "n_steps": 16,
                                         "precond": "dense", "zeta": 0.001}
    code = main(["run", "gaussian", *SMALL, "--kernel", "hmc", "--kernel-option",
                 "step_spread=true", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    params = json.loads(load_idata(tmp_path / "idata.nc").attrs["params"])
    assert "step_spread" in params
    # an option the kernel does not have is named, with the ones it has
    code = main(["run", "gaussian", *SMALL, "--kernel", "mala", "--kernel-option",
                 "step_spread=true", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no option 'step_spread'" in err and "precond" in err


def test_objective_options_from_the_command_line(tmp_path, capsys):
    code = main(["run", "gaussian", *SMALL, "--kernel", "mala", "--objective", "kl",
                 "--objective-option", "coordinates=3", "--out", str(tmp_path),
                 "--no-progress", "--baseline"])
    assert code == 0  # the option reaches kl and not the baseline's window
    settings = json.loads(load_idata(tmp_path / "idata.nc").attrs["settings"])
    assert settings["objective"]["coordinates"] == 3
    code = main(["run", "gaussian", *SMALL, "--objective", "window", "--objective-option",
                 "coordinates=1", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "window objective has no option 'coordinates'" in err
    assert "target_accept" in err
    # a JSON value, e.g. the step range's settings for HMC with a step spread
    code = main(["run", "gaussian", *SMALL, "--kernel", "hmc", "--objective", "window",
                 "--kernel-option", "step_spread=true", "--objective-option",
                 'step_range={"explore": 4}', "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    settings = json.loads(load_idata(tmp_path / "idata.nc").attrs["settings"])
    assert settings["objective"]["step_range"] == {"explore": 4}


@pytest.mark.parametrize("bad", [["run", "--chains", "0"], ["run", "--draws", "x"], [],
                                 ["frobnicate"], ["run", "--kernel-option", "step_spread"]])
def test_bad_arguments_exit_with_usage(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(bad)
    assert exc.value.code == 2
    assert "usage: mcmcadapt" in capsys.readouterr().err


# ---- model resolution -------------------------------------------------------------------

def test_model_from_file(model_file):
    m = resolve_model(f"{model_file}:correlated")
    lp, g = m.logp_and_grad(np.array([[1.0, 0.0]]))
    P = np.linalg.inv(np.array([[1.0, 0.8], [0.8, 1.0]]))
    np.testing.assert_allclose(lp, [-0.5 * P[0, 0]])
    np.testing.assert_allclose(g, [-P[0]])


def test_file_errors_say_what_and_list_choices(model_file, tmp_path):
    with pytest.raises(CLIError, match="does not exist"):
        resolve_model(f"{tmp_path / 'nope.py'}:f")
    with pytest.raises(CLIError, match=r"no function 'corelated'.*broken, correlated, "
                                       r"not_a_model.*Did you mean correlated"):
        resolve_model(f"{model_file}:corelated")
    with pytest.raises(CLIError, match="no function given"):
        resolve_model(str(model_file))
    with pytest.raises(CLIError, match="returned int, not a mcmcadapt.models.Model"):
        resolve_model(f"{model_file}:not_a_model")
    with pytest.raises(CLIError, match="RuntimeError: no data here"):
        resolve_model(f"{model_file}:broken")
    bad = tmp_path / "syntax.py"
    bad.write_text("def f(:\n")
    with pytest.raises(CLIError, match="SyntaxError"):
        resolve_model(f"{bad}:f")


def test_unknown_builtin_lists_choices(capsys):
    names = cli.builtin_names()
    assert cli.DEFAULT_MODEL in names
    with pytest.raises(CLIError) as exc:
        resolve_model("bnn-breast-cancr")
    msg = str(exc.value)
    assert "unknown model 'bnn-breast-cancr'" in msg and "Did you mean bnn-breast-cancer" in msg
    assert all(n in msg for n in names)
    assert main(["run", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcmcadapt: error: unknown model") and "Traceback" not in err


def test_models_command_lists_registry(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == cli.builtin_names()
    from mcmcadapt.models.targets import NEEDS_SHARED_DATA

    for line in lines:
        assert ("needs the reference data" in line) == (line.split()[0] in NEEDS_SHARED_DATA)


# ---- end to end -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["run", "gaussian", *SMALL, "--out", str(out), "--no-progress", "--baseline"])
    return out, code


def test_run_writes_idata_and_report(run_dir, capsys):
    out, code = run_dir
    assert code == 0
    idata = load_idata(out / "idata.nc")
    assert idata.attrs["model_spec"] == "gaussian" and int(idata.attrs["interrupted"]) == 0
    post = idata["posterior"].to_dataset()
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 120
    assert int(idata.attrs["n_grad_warmup"]) > 0
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and 'id="adaptation"' in html
    # --baseline: a window-adaptation run of the same budget, saved and compared
    base = load_idata(out / "baseline.nc")
    assert base.attrs["objective"] == "window" and base.attrs["kernel"] == idata.attrs["kernel"]
    assert "window adaptation (baseline)" in html and "this run / baseline (bulk)" in html


def test_run_prints_summary_and_report_path(tmp_path, capsys):
    code = main(["run", "gaussian", *SMALL, "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert "mcmcadapt diagnostics" in out and "r_hat" in out
    assert re.search(r"^report: .*report\.html$", out, re.M)
    assert f"draws: {tmp_path / 'idata.nc'}" in out


def test_run_says_where_the_tuning_time_went(tmp_path, capsys):
    main(["run", "gaussian", *SMALL, "--out", str(tmp_path), "--no-progress"])
    text = "".join(capsys.readouterr())
    m = re.search(r"tuned in ([\d.]+) s \(model ([\d.]+) s, kernel ([\d.]+) s, "
                  r"adaptation ([\d.]+) s\)", text)
    assert m, text
    total, *parts = map(float, m.groups())
    assert sum(parts) <= total + 0.2  # each part rounded to 0.1 s


def test_idata_roundtrips_through_netcdf(tmp_path):
    import xarray as xr

    from mcmcadapt.cli import save_idata
    from test_diagnostics_synth import make_idata

    rng = np.random.default_rng(0)
    idata = make_idata({"mu": rng.standard_normal((2, 30)), "w": rng.standard_normal((2, 30, 3))},
                       diverging=rng.random((2, 30)) < 0.1, energy=rng.standard_normal((2, 30)))
    save_idata(idata, tmp_path / "x.nc")
    back = load_idata(tmp_path / "x.nc")
    xr.testing.assert_identical(back, idata)
    assert back["sample_stats"]["diverging"].dtype == bool


def test_report_rerendered_from_netcdf(run_dir, tmp_path, capsys):
    out, _ = run_dir
    target = tmp_path / "again.html"
    assert main(["report", str(out / "idata.nc"), "--out", str(target)]) == 0
    assert f"report: {target}" in capsys.readouterr().out
    first, again = (out / "report.html").read_text(), target.read_text()

    def table(html):
        return html.split('<table class="summary">')[1].split("</table>")[0]

    assert table(first) == table(again)            # same draws, same diagnostics
    assert "window adaptation (baseline)" in again  # baseline.nc beside idata.nc is used
    assert (out / "report.html").read_text() == first   # the original is left alone
    assert "KSD (IMQ) vs model score</td><td>not computed" not in again   # model re-resolved


def test_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.nc")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    assert main(["report", str(junk)]) == 2
    assert "not a NetCDF file" in capsys.readouterr().err


class Interrupting:
    """Forwards to ``real``; its ``at``-th batch of exactly 2 rows (the sampling chains of
    ``SMALL``) raises KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self, real, at):
        self.real, self.at, self.calls = real, at, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def logp_and_grad(self, X, *a, **k):
        if np.shape(X)[0] == 2:
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
        return self.real.logp_and_grad(X, *a, **k)


def test_ctrl_c_while_sampling_keeps_draws_and_writes_report(model_file, tmp_path, monkeypatch):
    from mcmcadapt.models.model import Model

    model = Interrupting(resolve_model(f"{model_file}:correlated"), at=40)
    monkeypatch.setattr(cli, "resolve_model", lambda spec: model)
    monkeypatch.setattr(cli, "_check_model", lambda obj, where: obj)
    assert not isinstance(model, Model)
    code = main(["run", "x", *SMALL, "--out", str(tmp_path), "--no-progress"])
    assert code == cli.EXIT_INTERRUPTED
    idata = load_idata(tmp_path / "idata.nc")
    assert int(idata.attrs["interrupted"]) == 1
    assert 4 <= idata["posterior"].sizes["draw"] < 120
    assert "interrupted" in (tmp_path / "report.html").read_text()


def test_interrupted_run_is_resumed_from_the_command_line(model_file, tmp_path, monkeypatch,
                                                          capsys):
    real = resolve_model(f"{model_file}:correlated")
    monkeypatch.setattr(cli, "resolve_model", lambda spec: Interrupting(real, at=30))
    monkeypatch.setattr(cli, "_check_model", lambda obj, where: obj)
    path = tmp_path / "idata.nc"
    assert main(["run", "x", *SMALL, "--out", str(tmp_path), "--no-progress"]) == \
        cli.EXIT_INTERRUPTED
    assert f"continue with: mcmcadapt resume {path}" in capsys.readouterr().out
    before = load_idata(path)
    done = before["posterior"].sizes["draw"]
    assert 0 < done < 120

    monkeypatch.setattr(cli, "resolve_model", lambda spec: real)
    assert main(["resume", str(path), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert f"added {120 - done} draws per chain" in out.err
    after = load_idata(path)
    assert after["posterior"].sizes["draw"] == 120 and int(after.attrs["interrupted"]) == 0
    np.testing.assert_array_equal(after["posterior"]["a"].values[:, :done],
                                  before["posterior"]["a"].values)
    assert "continue with" not in out.out
    report = (tmp_path / "report.html").read_text()
    assert "<td>sampling interrupted</td><td>no</td>" in report and "x 120 draws" in report
    assert "<td>resumed</td><td>1 time(s) (seeds: continued stream)</td>" in report
    assert not (tmp_path / "idata.nc.partial").exists()

    assert main(["resume", str(path), "--draws", "10", "--seed", "3", "--no-progress"]) == 0
    capsys.readouterr()
    again = load_idata(path)
    assert again["posterior"].sizes["draw"] == 130
    assert json.loads(again.attrs["resume_seeds"]) == [None, 3]
    assert main(["resume", str(path), "--no-progress"]) == 2
    assert "complete (130 of 130 draws per chain)" in capsys.readouterr().err


def test_resume_errors_from_the_command_line(tmp_path, capsys):
    assert main(["resume", str(tmp_path / "missing.nc")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_file_without_posterior_is_named(tmp_path, capsys):
    import xarray as xr

    from mcmcadapt.cli import save_idata

    save_idata(xr.DataTree.from_dict({"/": xr.Dataset(attrs={"model_spec": "banana"})}),
               tmp_path / "empty.nc")
    for command in ("resume", "report"):
        assert main([command, str(tmp_path / "empty.nc")]) == 2
        assert "has no 'posterior' group" in capsys.readouterr().err


def test_a_model_file_is_recorded_by_absolute_path(model_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(model_file.parent)
    out = tmp_path / "out"
    assert main(["run", f"{model_file.name}:correlated", *SMALL, "--out", str(out),
                 "--no-progress"]) == 0
    idata = load_idata(out / "idata.nc")
    assert idata.attrs["model_spec"] == f"{model_file}:correlated"
    monkeypatch.chdir("/")
    assert main(["resume", str(out / "idata.nc"), "--draws", "5", "--no-progress"]) == 0
    assert load_idata(out / "idata.nc")["posterior"].sizes["draw"] == 125
    capsys.readouterr()
    (out / "idata.nc").replace(out / "moved.nc")
    idata.attrs["model_spec"] = "gone.py:correlated"
    from mcmcadapt.cli import save_idata

    save_idata(idata, out / "idata.nc")
    assert main(["resume", str(out / "idata.nc"), "--draws", "5", "--no-progress"]) == 2
    assert "give it with --model" in capsys.readouterr().err


# ---- found by a new user's review ---------------------------------------------------------

def test_an_earlier_runs_baseline_is_not_compared(run_dir, model_file, tmp_path, capsys):
    import shutil

    out, _ = run_dir
    folder = tmp_path / "shared"
    shutil.copytree(out, folder)                   # a gaussian run with its baseline.nc
    assert main(["run", f"{model_file}:correlated", *SMALL, "--out", str(folder),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "removed" in err and not (folder / "baseline.nc").exists()
    assert "window adaptation (baseline)" not in (folder / "report.html").read_text()
    # a baseline of another model, beside the run or given, is not used either
    shutil.copy(out / "baseline.nc", folder / "baseline.nc")
    assert main(["report", str(folder / "idata.nc")]) == 0
    assert "ignoring" in capsys.readouterr().err
    assert "window adaptation (baseline)" not in (folder / "report.html").read_text()
    assert main(["report", str(folder / "idata.nc"), "--baseline",
                 str(out / "baseline.nc")]) == 2
    assert "does not belong to this run: it sampled model 'gaussian'" in capsys.readouterr().err
    assert main(["report", str(folder / "idata.nc"), "--baseline",
                 str(tmp_path / "none.nc")]) == 2
    assert "no such baseline file" in capsys.readouterr().err


def test_out_must_be_a_folder_and_a_failed_start_leaves_none(tmp_path, capsys,
                                                             monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["run", "gaussian", *SMALL, "--out", str(afile), "--no-progress"]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert main(["run", "gaussian", *SMALL, "--kernel", "ula", "--out",
                 str(tmp_path / "new"), "--no-progress"]) == 2
    assert "command line: --objective kl" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    # an unwritable place is found out before tuning, not after sampling
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    assert main(["run", "gaussian", *SMALL, "--out", str(tmp_path / "a" / "b"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to {tmp_path}" in err and "tuning" not in err


def test_a_model_file_imports_modules_beside_it(tmp_path, monkeypatch):
    folder = tmp_path / "proj with space"
    folder.mkdir()
    (folder / "helpers_beside.py").write_text("SCALE = 2.0\n")
    (folder / "model.py").write_text(textwrap.dedent("""
        import numpy as np
        from helpers_beside import SCALE
        from mcmcadapt.models.model import Model

        def make():
            return Model(lambda X: (-0.5 * np.sum(X**2, 1) / SCALE, -X / SCALE), 2)
    """))
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # undone after the test
    model = resolve_model(f"{folder / 'model.py'}:make")
    lp, _ = model.logp_and_grad(np.ones((1, 2)))
    assert lp[0] == -0.5


def test_a_model_failure_is_not_a_ctrl_c(tmp_path, capsys):
    folder = tmp_path / "out dir"
    (tmp_path / "flaky.py").write_text(textwrap.dedent("""
        import numpy as np
        from mcmcadapt.models.model import Model

        def make():
            calls = [0]

            def lg(X):
                if X.shape[0] == 2:
                    calls[0] += 1
                    if calls[0] == 40:
                        raise RuntimeError("simulated crash")
                return -0.5 * np.sum(X**2, 1), -X
            return Model(lg, 2, name="flaky")
    """))
    with pytest.warns(RuntimeWarning, match="simulated crash"):
        code = main(["run", f"{tmp_path / 'flaky.py'}:make", *SMALL, "--out", str(folder),
                     "--no-progress"])
    assert code == cli.EXIT_MODEL_FAILED != cli.EXIT_INTERRUPTED
    out, err = capsys.readouterr()
    assert "sampling stopped because the model failed" in err
    assert re.search(r"RuntimeError: simulated crash \(at .*flaky\.py:\d+, in lg\)", err)
    # the path with a space is quoted, so the line can be pasted into a shell
    assert f"continue with: mcmcadapt resume '{folder / 'idata.nc'}'" in out
    assert "sampling stopped because the model failed" in out  # the summary's warning


def test_missing_reference_data_is_one_line(monkeypatch, tmp_path, capsys):
    from mcmcadapt.datasets import paths

    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "nowhere"))
    monkeypatch.setattr(paths, "_REPO_ROOT", tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "logistic-german", *SMALL, "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mcmcadapt: error: reference data folder not found")
    assert "MCMCADAPT_SHARED_DATA" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mcmcadapt", "models"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "funnel10" in done.stdout.split()


def test_the_readme_model_file_runs(tmp_path, capsys):
    import pathlib

    from mcmcadapt.models import check_gradients

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Your own model", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    path = tmp_path / "my_model.py"
    path.write_text(code)
    model = resolve_model(f"{path}:make")
    X = np.column_stack([np.linspace(-1, 3, 7), np.log(np.linspace(0.5, 2, 7))])  # unconstrained
    assert check_gradients(model, X) < 1e-6
    assert main(["run", f"{path}:make", "--tune-chains", "32", "--steps", "200", "--chains",
                 "4", "--draws", "1000", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    tree = load_idata(tmp_path / "out" / "idata.nc")
    post = tree["posterior"]
    assert set(post.data_vars) == {"mu", "sigma"} and float(post["sigma"].min()) > 0
    # posterior mean of mu by quadrature over (mu, log sigma), Jacobian included
    y = np.array([2.1, 1.4, 3.3, 2.8, 1.9])
    mu, ls = np.meshgrid(np.linspace(-15, 20, 1401), np.linspace(-4, 6, 1001), indexing="ij")
    sig = np.exp(ls)
    logd = (-0.5 * np.sum(((y[:, None, None] - mu) / sig) ** 2, 0) - y.size * ls
            - 0.5 * mu**2 / 100 + ls)
    w = np.exp(logd - logd.max())
    truth = float(np.sum(w * mu) / np.sum(w))
    from mcmcadapt.diagnostics import summarize

    row = summarize(tree).table.loc["mu"]
    assert abs(row["mean"] - truth) < 4 * row["mcse_mean"] + 1e-3


def test_a_baseline_beside_the_run_with_other_quantities_is_ignored(tmp_path, capsys):
    import mcmcadapt as ma
    from mcmcadapt.diagnostics import add_predictive
    from mcmcadapt.models.targets import eight_schools

    model = eight_schools()
    res = ma.tune(model, "mala", "speed", chains=8, steps=3, seed=0, progress=False)
    run = ma.sample(model, res, chains=2, draws=20, seed=1, progress=False)
    base = ma.sample(model, res, chains=2, draws=20, seed=2, progress=False)
    run = add_predictive(run, model, quantities=lambda X: {"m": X.max(axis=1)})
    run.attrs["model_spec"] = base.attrs["model_spec"] = "eight-schools"
    save_idata(run, tmp_path / "idata.nc")
    save_idata(base, tmp_path / "baseline.nc")
    assert main(["report", str(tmp_path / "idata.nc"), "--out", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert "ignoring" in err and "quantities" in err
    assert main(["report", str(tmp_path / "idata.nc"), "--out", str(tmp_path / "r.html"),
                 "--baseline", str(tmp_path / "baseline.nc")]) == 2
    assert "does not belong to this run: its quantities" in capsys.readouterr().err
