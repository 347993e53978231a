"""Data loaders: shipped CSVs, seeded splits standardised with training statistics, the
reference-data quirks (on a synthetic folder built here, and on ../shared/data when present),
and the missing-data errors."""

import csv
import hashlib
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from mcmcadapt import datasets
from mcmcadapt.datasets import DataNotFoundError, shared_data_root
from mcmcadapt.errors import HyperparameterError

REPO = Path(__file__).resolve().parents[1]


def _raw(filename):
    with resources.files("mcmcadapt").joinpath("data", filename).open() as fh:
        rows = list(csv.reader(fh))
    data = np.array(rows[1:], dtype=float)
    return rows[0], data[:, :-1], data[:, -1]


def _expected_split(X, seed, test_fraction):
    n = X.shape[0]
    n_test = int(round(test_fraction * n))
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n - n_test], perm[n - n_test:]


def test_breast_cancer_whole_data_is_standardised_in_order():
    header, X, y = _raw("breast_cancer.csv")
    ds = datasets.load_breast_cancer()
    assert ds.X_train.shape == (569, 30) and ds.X_test.shape == (0, 30)
    assert ds.feature_names == tuple(header[:-1]) and ds.task == "classification"
    np.testing.assert_allclose(ds.X_train, (X - X.mean(0)) / X.std(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ds.y_train, y)
    assert set(np.unique(ds.y_train)) == {0.0, 1.0}


@pytest.mark.parametrize("seed", [0, 3])
def test_split_uses_training_statistics(seed):
    _, X, y = _raw("breast_cancer.csv")
    ds = datasets.load_breast_cancer(test_fraction=0.6, seed=seed)
    train, test = _expected_split(X, seed, 0.6)
    mu, sd = X[train].mean(0), X[train].std(0)
    np.testing.assert_allclose(ds.X_train, (X[train] - mu) / sd, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ds.X_test, (X[test] - mu) / sd, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ds.y_test, y[test])
    assert np.abs(ds.X_test.mean(0)).max() > 1e-3  # test set is not re-centred


def test_split_is_deterministic_by_seed():
    a = datasets.load_breast_cancer(test_fraction=0.3, seed=5)
    b = datasets.load_breast_cancer(test_fraction=0.3, seed=5)
    c = datasets.load_breast_cancer(test_fraction=0.3, seed=6)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.y_test, c.y_test)


def test_diabetes_regression_targets_are_standardised():
    _, X, y = _raw("diabetes.csv")
    ds = datasets.load_diabetes(test_fraction=0.2, seed=1)
    train, test = _expected_split(X, 1, 0.2)
    assert ds.task == "regression" and ds.X_train.shape == (354, 10)
    np.testing.assert_allclose(ds.y_train, (y[train] - y[train].mean()) / y[train].std(),
                               rtol=1e-12)
    np.testing.assert_allclose(ds.y_test * ds.y_scale + ds.y_mean, y[test], rtol=1e-12)


@pytest.mark.parametrize("fraction", [1.0, -0.1, 0.999, "half"])
def test_bad_test_fraction(fraction):
    with pytest.raises(HyperparameterError, match="test_fraction"):
        datasets.load_breast_cancer(test_fraction=fraction)


def test_readme_documents_the_shipped_files():
    readme = (REPO / "data" / "README.md").read_text()
    for name in ("breast_cancer.csv", "diabetes.csv"):
        data = resources.files("mcmcadapt").joinpath("data", name).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert re.search(rf"{digest}\s+mcmcadapt/data/{name}", readme), name
    assert "BSD-3" in readme


# ---- reference data: quirks on a synthetic folder --------------------------------------

def _write(folder, data, features, target):
    folder.mkdir(parents=True)
    np.savetxt(folder / "data.txt", data, fmt="%.17g")
    np.savetxt(folder / "index_features.txt", features, fmt="%d")
    np.savetxt(folder / "index_target.txt", [target], fmt="%d")


@pytest.fixture()
def fake_root(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    labels12 = rng.integers(1, 3, n)
    # column c holds c*100 + noise, so columns can be recognised after un-standardising
    def cols(k):
        return np.arange(k) * 100.0 + rng.random((n, k))
    aus = cols(15)
    aus[:, 0] = rng.integers(1, 3, n)  # a 1/2-coded feature the paper's code used as label
    aus[:, 14] = labels12 - 1
    _write(tmp_path / "uci_binary" / "australian", aus, range(1, 15), 0)
    breast = cols(11)
    breast[:, 10] = labels12
    _write(tmp_path / "uci_binary" / "breast", breast, range(10), 10)
    crabs = cols(7)
    crabs[:, 0] = labels12
    crabs[:, 1] = np.tile(np.arange(1, 21), 2)
    _write(tmp_path / "uci_binary" / "crabs", crabs, range(1, 7), 0)
    return tmp_path, {"australian": aus, "breast": breast, "crabs": crabs}, labels12


@pytest.mark.parametrize("name, label, kept", [
    ("australian", 14, list(range(14))),
    ("breast", 10, list(range(1, 10))),
    ("crabs", 0, list(range(2, 7))),
])
def test_standard_columns_handle_the_quirks(fake_root, name, label, kept):
    root, raw, labels12 = fake_root
    ds = datasets.load_uci_binary(name, root=root, test_fraction=0.0)
    np.testing.assert_allclose(ds.X_train * ds.x_scale + ds.x_mean, raw[name][:, kept], rtol=1e-12)
    np.testing.assert_array_equal(ds.y_train, labels12 - 1)  # 1/2 and 0/1 both map to 0/1
    assert ds.feature_names == tuple(f"col{c}" for c in kept)


def test_paper_columns_follow_the_index_files(fake_root):
    root, raw, _ = fake_root
    ds = datasets.load_uci_binary("australian", root=root, test_fraction=0.0, columns="paper")
    np.testing.assert_allclose(ds.X_train * ds.x_scale + ds.x_mean, raw["australian"][:, 1:15],
                               rtol=1e-12)
    label = raw["australian"][:, 0]
    np.testing.assert_array_equal(ds.y_train, label == label.max())


def test_environment_variable_sets_the_root(fake_root, monkeypatch):
    root, _, _ = fake_root
    monkeypatch.setenv("MCMCADAPT_SHARED_DATA", str(root))
    assert shared_data_root() == root.resolve()
    assert datasets.load("crabs").X_train.shape == (16, 5)  # 40% of 40 rows


def test_missing_folder_and_file_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="root=") as exc:
        datasets.load_uci_binary("pima", root=tmp_path / "absent")
    assert isinstance(exc.value, FileNotFoundError) and isinstance(exc.value, ValueError)
    assert "MCMCADAPT_SHARED_DATA" in str(exc.value)
    with pytest.raises(DataNotFoundError, match=r"pima.data\.txt is missing"):
        datasets.load_uci_binary("pima", root=tmp_path)
    with pytest.raises(DataNotFoundError, match="german.csv is missing"):
        datasets.load("german", root=tmp_path)


@pytest.mark.parametrize("call, match", [
    (lambda: datasets.load("mnist"), "unknown data set 'mnist'"),
    (lambda: datasets.load_uci_binary("iris"), "unknown UCI"),
    (lambda: datasets.load_logistic("adult"), "unknown logistic"),
])
def test_unknown_names(call, match):
    with pytest.raises(HyperparameterError, match=match):
        call()


def test_bad_columns_option(fake_root):
    root, _, _ = fake_root
    with pytest.raises(HyperparameterError, match="columns"):
        datasets.load_uci_binary("crabs", root=root, columns="all")


# ---- the real reference data, when present ---------------------------------------------

def _shared_or_skip():
    try:
        return shared_data_root()
    except DataNotFoundError as exc:
        pytest.skip(f"reference data not available: {exc}")


@pytest.mark.parametrize("name, label, dropped", [
    ("australian", 14, []), ("breast", 10, [0]), ("crabs", 0, [1]),
    ("ionosphere", 34, []), ("pima", 8, []), ("sonar", 60, []),
])
def test_reference_uci_sets(name, label, dropped):
    root = _shared_or_skip()
    raw = np.loadtxt(root / "uci_binary" / name / "data.txt")
    kept = [c for c in range(raw.shape[1]) if c != label and c not in dropped]
    ds = datasets.load(name, test_fraction=0.0)
    np.testing.assert_allclose(ds.X_train * ds.x_scale + ds.x_mean, raw[:, kept], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_array_equal(ds.y_train, raw[:, label] == raw[:, label].max())
    split = datasets.load(name, seed=100)
    assert split.X_test.shape[0] == round(0.6 * raw.shape[0])


@pytest.mark.parametrize("name, label_one", [("german", 2), ("caravan", 1)])
def test_reference_logistic_sets(name, label_one):
    root = _shared_or_skip()
    raw = np.loadtxt(root / "logistic" / f"{name}.csv", delimiter=",")
    ds = datasets.load(name)
    assert ds.X_train.shape == (raw.shape[0], raw.shape[1] - 1)
    np.testing.assert_array_equal(ds.y_train, raw[:, -1] == label_one)
    np.testing.assert_allclose(ds.X_train.std(0), 1.0, rtol=1e-10)
