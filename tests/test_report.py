"""mcmcadapt.report: a self-contained HTML page. Structure and embedded images are checked
always (PNG decoded here with zlib, chunk CRCs verified); rendering in headless Chromium is
checked when a Chromium is installed and skipped, with the reason, otherwise."""

import base64
import html
import os
import shutil
import struct
import subprocess
import types
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from mcmcadapt.diagnostics import summarize
from mcmcadapt.errors import InputError
from mcmcadapt.report import report
from mcmcadapt.report.figures import _param_lines
from test_diagnostics_synth import ar1_chains, make_idata

CHROMIUM = "/usr/bin/chromium"


class Page(HTMLParser):
    """Collects sections, table rows (with classes), images, warnings and external refs."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.warnings, self.external = [], [], 0, []
        self.tables = []            # list of (class, [row class, ...]) for tbody rows
        self.tags = []
        self._table = None
        self._in_tbody = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "img":
            self.images.append(a)
        elif tag == "li" and a.get("class") == "warning":
            self.warnings += 1
        elif tag == "table":
            self._table = (a.get("class"), [])
            self.tables.append(self._table)
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody and self._table is not None:
            self._table[1].append(a.get("class"))
        for key in ("src", "href"):
            if key in a and not str(a[key]).startswith("data:"):
                self.external.append(a[key])

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False


def parse(path):
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def decode_png(data):
    """Decode a PNG enough to prove it is one: signature, chunk CRCs, IHDR, and IDAT that
    inflates to exactly height rows of (1 filter byte + width * bytes per pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == height * (1 + width * channels * depth // 8)
    return width, height


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(0)
    post = {"mu": rng.standard_normal((4, 300)),
            "theta": ar1_chains(rng, 4, 300, 2, 0.97, offsets=[0, 0, 0, 1.5])}
    div = np.zeros((4, 300), bool)
    div[1, 5] = True
    idata = make_idata(post, diverging=div, energy=rng.standard_normal((4, 300)))
    base = make_idata({"mu": ar1_chains(rng, 4, 300, 1, 0.9)[..., 0],
                       "theta": ar1_chains(rng, 4, 300, 2, 0.99)}, n_grad_warmup=40000)
    return idata, base


@pytest.fixture(scope="module")
def page_path(runs, tmp_path_factory):
    idata, base = runs
    result = types.SimpleNamespace(params={"step_size": 0.25,
                                           "inv_mass_diag": np.linspace(1.0, 2.0, 51)},
                                   messages=["3 parameter updates were skipped"], history=None)
    return report(idata, result, tmp_path_factory.mktemp("rep") / "sub" / "report.html",
                  baseline=base)


def test_sections_tables_and_warnings(runs, page_path):
    idata, _ = runs
    s = summarize(idata)
    p = parse(page_path)
    assert p.sections == ["warnings", "summary", "traces", "adaptation", "efficiency",
                          "settings"]
    assert p.warnings == len(s.warnings) >= 2
    summary_rows = next(rows for cls, rows in p.tables if cls == "summary")
    assert [c == "flag" for c in summary_rows] == list(s.flagged)
    assert any(s.flagged) and not all(s.flagged)
    assert p.external == [] and "script" not in p.tags and "link" not in p.tags
    text = page_path.read_text()
    assert "mcmcadapt report: gauss" in text
    assert "3 parameter updates were skipped" in text
    # a long preconditioner is summarised, not listed
    assert ('"inv_mass_diag": "array of shape (51,): min 1, median 1.5, max 2"'
            in html.unescape(text))


def test_embedded_images_are_pngs(page_path):
    p = parse(page_path)
    assert len(p.images) == 4     # trace, rank, adaptation, efficiency comparison
    for img in p.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix) and img.get("alt")
        w, h = decode_png(base64.b64decode(img["src"][len(prefix):], validate=True))
        assert w > 100 and h > 100


def test_baseline_ratio_is_reported(runs, page_path):
    idata, base = runs
    s, b = summarize(idata), summarize(base)
    ratio = s.ess_per_grad["ess_bulk"] / b.ess_per_grad["ess_bulk"]
    assert f"{ratio:.2f}x" in page_path.read_text()
    assert s.n_grad == 12000 + 4 * 300 * 3 and b.n_grad == 40000 + 4 * 300 * 3


def test_without_baseline_or_adaptation(runs, tmp_path):
    idata, _ = runs
    bare = idata.copy()
    del bare["adaptation"]
    path = report(bare, None, tmp_path / "r.html")
    p = parse(path)
    text = path.read_text()
    assert "No adaptation record" in text and "No window-adaptation baseline" in text
    assert len(p.images) == 2


def test_adaptation_from_result_history(runs, tmp_path):
    idata, _ = runs
    bare = idata.copy()
    del bare["adaptation"]
    n = 30
    hist = {"objective": np.linspace(-1, 0, n), "acceptance_rate": np.full(n, 0.6),
            "step_size": np.linspace(0.1, 0.3, n),
            "params": {"inv_mass_diag": np.ones((n, 2))}, "param_iteration": np.arange(n)}
    result = types.SimpleNamespace(params={"step_size": 0.3}, messages=[], history=hist)
    p = parse(report(bare, result, tmp_path / "r.html"))
    assert len(p.images) == 3


def test_table_rows_capped_worst_first(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 200, 12))
    x[..., 9] += np.array([0, 0, 0, 3.0])[:, None]
    idata = make_idata({"x": x})
    path = report(idata, None, tmp_path / "r.html", max_rows=4, max_plots=2)
    p = parse(path)
    rows = next(rows for cls, rows in p.tables if cls == "summary")
    assert len(rows) == 4 and rows.count("flag") == 1
    assert "8 more quantities not shown" in path.read_text()
    assert "x[9]" in path.read_text().split('id="traces"')[1]    # flagged one is plotted


def test_text_is_escaped(tmp_path):
    rng = np.random.default_rng(2)
    idata = make_idata({"x": rng.standard_normal((2, 100))},
                       attrs={"model": "<script>alert(1)</script>"})
    text = report(idata, None, tmp_path / "r.html").read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_bad_arguments(runs, tmp_path):
    idata, _ = runs
    with pytest.raises(InputError, match="baseline"):
        report(idata, None, tmp_path / "r.html", baseline=np.zeros(3))
    with pytest.raises(InputError, match="summary"):
        report(idata, None, tmp_path / "r.html", summary={"not": "a summary"})


def test_preconditioner_lines():
    dense = np.stack([np.diag([1.0, 2.0, 3.0]) * (t + 1) for t in range(5)])
    lines = _param_lines(dense)
    assert [lab for lab, _ in lines] == ["[0]", "[1]", "[2]"]
    np.testing.assert_allclose(lines[2][1], 3.0 * np.arange(1, 6))
    many = np.arange(50.0).reshape(5, 10)
    lab, vals = zip(*_param_lines(many))
    assert lab == ("min", "median", "max")
    np.testing.assert_allclose(vals[0], many[:, 0])
    np.testing.assert_allclose(vals[1], np.median(many, axis=1))
    np.testing.assert_allclose(vals[2], many[:, 9])


def test_public_name_is_callable(runs, tmp_path):
    import mcmcadapt as ma
    import mcmcadapt.report as module

    idata, _ = runs
    assert callable(module) and callable(ma.report)
    assert ma.report(idata, None, tmp_path / "m.html").exists()


def _chromium_reason():
    if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} or on PATH (apt-get install chromium to run this)"
    return None


def test_renders_in_headless_chromium(page_path, tmp_path):
    reason = _chromium_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    exe = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
           "--window-size=1200,3600", f"--screenshot={shot}", page_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if not shot.exists():
        pytest.fail(f"Chromium wrote no screenshot (exit {proc.returncode}): "
                    f"{proc.stderr[-2000:]}")
    import matplotlib.image as mpimg

    img = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)
    assert img.shape[:2] == (3600, 1200)

    def count(rgb, tol=12):
        return int(np.sum(np.all(np.abs(img - np.array(rgb)) <= tol, axis=2)))

    # matplotlib's first colour (#1f77b4) appears only inside the embedded plots, and the
    # warning border (#c62828) only if the warnings' CSS applied: both must be on screen.
    assert count((0x1F, 0x77, 0xB4)) > 2000
    assert count((0xC6, 0x28, 0x28)) > 500


def test_one_chain_has_a_trace_but_no_rank_plot(tmp_path):
    rng = np.random.default_rng(3)
    path = report(make_idata({"x": rng.standard_normal((1, 120, 2))}), None, tmp_path / "r.html")
    p = parse(path)
    assert "traces" in p.sections
    assert [img["alt"] for img in p.images if "plots" in img["alt"]] == ["trace plots"]
    assert "No rank plots: they compare chains, and this run has one." in path.read_text()


def test_baseline_without_counts_for_this_run_is_not_mislabelled(runs, tmp_path):
    import xarray as xr

    _, base = runs
    rng = np.random.default_rng(4)
    plain = xr.DataTree.from_dict({"posterior": xr.Dataset(
        {"mu": (("chain", "draw"), rng.standard_normal((4, 200))),
         "theta": (("chain", "draw", "theta_dim_0"), rng.standard_normal((4, 200, 2)))})})
    text = report(plain, None, tmp_path / "r.html", baseline=base).read_text()
    section = text.split('id="efficiency"')[1].split("</section>")[0]
    assert "No gradient counts in this output" in section
    assert "baseline" not in section.split("No gradient counts")[0]


def test_a_baseline_must_be_of_the_same_model_and_is_shown_whole(runs, tmp_path):
    idata, base = runs
    other = make_idata({"mu": np.random.default_rng(5).standard_normal((4, 300))})
    with pytest.raises(InputError, match="quantities .* differ from this run"):
        report(idata, None, tmp_path / "r.html", baseline=other)
    renamed = base.copy()
    renamed.attrs["model"] = "banana"
    with pytest.raises(InputError, match="sampled model 'banana', this run 'gauss'"):
        report(idata, None, tmp_path / "r.html", baseline=renamed)
    # lengths, counts and warnings of both runs beside the ratio; a longer baseline is said
    longer = make_idata({"mu": np.random.default_rng(6).standard_normal((4, 600)),
                         "theta": np.random.default_rng(7).standard_normal((4, 600, 2))})
    section = report(idata, None, tmp_path / "r.html", baseline=longer).read_text()
    section = section.split('id="efficiency"')[1].split("</section>")[0]
    assert "4 x 300" in section and "4 x 600" in section and "kept different numbers" in section
    assert "12000 + 3600" in section and "r_hat" in section   # this run's R-hat warning
    # a baseline without gradient counts is named, not reported as missing
    bare = longer.copy()
    del bare["sample_stats"]
    bare.attrs = {k: v for k, v in bare.attrs.items() if not k.startswith("n_grad")}
    del bare["adaptation"]
    section = report(idata, None, tmp_path / "r.html", baseline=bare).read_text()
    assert "cannot be compared: it has no gradient counts" in section
    assert "No window-adaptation baseline was given" not in section


def test_run_settings_say_which_part_was_interrupted(tmp_path):
    rng = np.random.default_rng(31)
    tree = make_idata({"x": rng.standard_normal((4, 200))}, attrs={"tuning_interrupted": 1})
    text = report(tree, None, tmp_path / "r.html").read_text()
    assert "tuning was interrupted" in text          # the warning
    assert "<td>tuning interrupted</td><td>yes</td>" in text
    assert "<td>sampling interrupted</td><td>no</td>" in text
