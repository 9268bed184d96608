"""The course book's interactive figures, run in headless Chromium: the convolution-arithmetic
explorer gives `deepnotes.arith`'s output size (and error message) for every setting, the
activation explorer gives `deepnotes.nn.activations`' values and torch's autograd derivatives,
and both draw their controls and canvas inside a phone-wide page without errors."""

from __future__ import annotations

import inspect
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from browser import PHONE_WIDTH, check_page
from conv_settings import CONV_AXES, CONV_SETTINGS, arith_answer
from deepnotes.arith import conv_output_size, transposed_output_size
from deepnotes.errors import UserError
from deepnotes.nn import activations
from deepnotes.nn.activations import ACTIVATIONS

ASSETS = Path(__file__).resolve().parents[2] / "src" / "deepnotes" / "report" / "assets"
SCRIPTS = ("explorer.js", "conv-explorer.js", "activation-explorer.js")
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script>
  window.pageProblems = [];  // read when the page runs in an iframe, out of the recorder's reach
  addEventListener("error", (e) => pageProblems.push(e.message || "missing " + e.target.src), true);
</script>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0 0.9rem; } .explorer { border: 1px solid; padding: 0.8em; }</style>
</head><body>
<script src="assets/explorer.js"></script>
<div class="explorer" data-explorer="conv"></div>
<script defer src="assets/conv-explorer.js"></script>
<div class="explorer" data-explorer="activations"></div>
<script defer src="assets/activation-explorer.js"></script>
</body></html>"""


@pytest.fixture
def page(tmp_path: Path) -> Path:
    """A page holding both explorers as the book includes them, the assets beside it."""
    (tmp_path / "assets").mkdir()
    for script in SCRIPTS:
        shutil.copy(ASSETS / script, tmp_path / "assets" / script)
    path = tmp_path / "explorers.html"
    path.write_text(PAGE)
    return path


# --- convolution arithmetic -------------------------------------------------------------


def test_conv_explorer_gives_arith_output_size_and_error(page, chromium):
    script = f"""
      const axes = Object.entries({json.dumps(CONV_AXES)});
      // every combination of the axes' values, the last axis fastest
      const settings = axes.reduce(
        (partial, [name, values]) =>
          partial.flatMap((setting) => values.map((value) => ({{...setting, [name]: value}}))),
        [{{}}]);
      const conv = window.deepnotes.conv;
      return settings.map((setting) => [conv.outputSize(setting), conv.check(setting).error]);
    """
    report, _ = check_page(page, chromium, script)
    assert report["problems"] == []
    expected = [arith_answer(setting) for setting in CONV_SETTINGS]
    got = [tuple(answer) for answer in report["result"]]
    wrong = [(s, g, e) for s, g, e in zip(CONV_SETTINGS, got, expected, strict=True) if g != e]
    assert wrong == [], f"{len(wrong)} settings differ, e.g. (setting, JS, arith): {wrong[:3]}"
    # the grid holds hundreds of each answer: 17119 errors, 537 sizes of a convolution
    # (output padding 0 only) and 1544 of a transposed one
    kinds = [
        (s["transposed"], size is not None)
        for s, (size, _) in zip(CONV_SETTINGS, expected, strict=True)
    ]
    assert min(kinds.count(kind) for kind in itertools.product((False, True), repeat=2)) > 300


# --- activations ------------------------------------------------------------------------

# x over the plotted range, 0.05 apart, and beside the kinks at 0
X_GRID = [round(x, 10) for x in np.linspace(-5, 5, 201)] + [0.0, 1e-3, -1e-3, 1e-6, -1e-6]

# besides the defaults, a couple of settings for each parameter the explorer has a slider for
PARAMETER_SETTINGS = {
    "LeakyReLU": [{"negative_slope": 0.2}, {"negative_slope": -0.3}],
    "PReLU": [{"init": 0.6}, {"init": -0.1}],
    "Softplus": [{"beta": 4.0, "threshold": 5.0}, {"beta": 0.5}],  # βx passes 5 above x = 1.25
    "ELU": [{"alpha": 0.3}, {"alpha": 2.5}],
    "CELU": [{"alpha": 0.5}, {"alpha": 2.0}],
    "GELU": [{"approximate": "tanh"}],
}

# The package's element-wise activations; Softmax, Softmin and LogSoftmax act along a dim.
ELEMENTWISE = sorted({e.ours.__name__ for e in ACTIVATIONS.values() if "dim" not in e.kwargs})

# JavaScript's numbers are float64, and the package runs here in float64 too; they differ by
# the order of operations and the libraries' exp, log1p, erf: 1e-16 to 3e-11 relative on most
# of the grid. Two places lose more, by cancellation, measured: near 0 the package's fast paths
# trade relative accuracy for speed (tanh as 1 − 2/(1 + e^{2x}), the ELUs' e^{x} − 1, see
# deepnotes.nn.activations), about 1e-16/|x|, 1e-10 at x = ±1e-6; and GELU's x·½(1 + erf(x/√2))
# at x = −5, where 1 + erf ≈ 6e-7 keeps an error of an ulp of 1: 7.5e-10 relative. 1e-6, the
# brief's tolerance, is over 1000 times that, and any wrong formula or parameter misses it.
RELATIVE_TOLERANCE = 1e-6


def package_values(name: str, settings: dict, xs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """f(x) from the package's module and f′(x) from torch's autograd through it, in float64."""
    module_class = getattr(activations, name)
    extra = {"dtype": torch.float64} if name == "PReLU" else {}  # its slope is a float64 weight
    module = module_class(**settings, **extra)
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = module(x)
    (slope,) = torch.autograd.grad(y.sum(), x)  # element-wise: ∂(Σy)/∂xᵢ = f′(xᵢ)
    return y.detach().numpy(), slope.numpy()


def package_defaults(name: str) -> dict:
    """The module's settings that shape the curve, with their defaults (not inplace, ...)."""
    not_shaping = {"self", "inplace", "num_parameters", "device", "dtype"}
    parameters = inspect.signature(getattr(activations, name).__init__).parameters.values()
    named = [p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]  # not nn.Module's *args
    return {p.name: p.default for p in named if p.name not in not_shaping}


def test_activation_explorer_matches_the_package_and_autograd(page, chromium):
    cases = [
        (name, settings)
        for name in ELEMENTWISE
        for settings in [{}, *PARAMETER_SETTINGS.get(name, [])]
    ]
    script = f"""
      const table = window.deepnotes.activations;
      const xs = {json.dumps(X_GRID)};
      const defaults = Object.fromEntries(
        Object.entries(table).map(([name, activation]) => [name, activation.params]));
      const values = {json.dumps(cases)}.map(([name, params]) => [
        xs.map((x) => table[name].f(x, params)),
        xs.map((x) => table[name].df(x, params)),
      ]);
      return {{defaults, values}};
    """
    report, _ = check_page(page, chromium, script)
    assert report["problems"] == []
    defaults = report["result"]["defaults"]
    assert sorted(defaults) == ELEMENTWISE
    assert {name: package_defaults(name) for name in ELEMENTWISE} == defaults
    for (name, settings), (f, df) in zip(cases, report["result"]["values"], strict=True):
        expected_f, expected_df = package_values(name, settings, X_GRID)
        np.testing.assert_allclose(
            f, expected_f, rtol=RELATIVE_TOLERANCE, atol=0, err_msg=f"{name}{settings} f(x)"
        )
        np.testing.assert_allclose(
            df, expected_df, rtol=RELATIVE_TOLERANCE, atol=0, err_msg=f"{name}{settings} f′(x)"
        )


# --- the page on a phone ----------------------------------------------------------------


def test_explorers_draw_their_controls_on_a_phone(page, chromium):
    """Both explorers build their controls and canvas, fit a phone's width, show arith's error
    for a dilated kernel that does not fit, switch to the transposed formula, and show an
    activation's parameter sliders only when it takes them.

    Headless Chromium's window is at least 500 pixels wide, so the page is laid out in an
    iframe as wide as a phone (see tests/browser.py); the page records its own errors."""
    script = f"""
      const frame = document.createElement("iframe");
      frame.style.cssText = "width: {PHONE_WIDTH}px; height: 900px; border: 0";
      await new Promise((loaded) => {{
        frame.onload = loaded;
        frame.src = "{page.name}";
        document.body.appendChild(frame);
      }});
      const phone = frame.contentWindow;
      await new Promise((drawn) => phone.requestAnimationFrame(drawn)); // after ResizeObserver
      const conv = phone.document.querySelector('[data-explorer="conv"]');
      const plot = phone.document.querySelector('[data-explorer="activations"]');
      const set = (container, setting, value) => {{
        const control = container.querySelector(`[data-setting="${{setting}}"]`);
        if (control.type === "checkbox") control.checked = value; else control.value = value;
        control.dispatchEvent(new phone.Event("input"));
      }};
      const drawn = (canvas) => {{
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
        return pixels.data.some((channel, n) => n % 4 === 3 && channel > 0);
      }};
      const text = (container, name) => container.querySelector(name).textContent;
      const shownParameters = () => [...plot.querySelectorAll("[data-setting]")]
        .filter((control) => control.getClientRects().length > 0)  // displayed
        .map((control) => control.dataset.setting).filter((s) => s !== "activation");
      const result = {{
        innerWidth: phone.innerWidth,
        scrollWidth: phone.document.documentElement.scrollWidth,
        convInputs: conv.querySelectorAll("input").length,
        convCanvasWidth: conv.querySelector("canvas").getBoundingClientRect().width,
        containerWidth: conv.getBoundingClientRect().width,
        convDrawn: drawn(conv.querySelector("canvas")),
        plotDrawn: drawn(plot.querySelector("canvas")),
        firstFormula: text(conv, ".explorer-formula"),
        firstError: text(conv, ".explorer-error"),
        reluParameters: shownParameters(),
      }};
      set(conv, "dilation", 4);
      result.kernelError = text(conv, ".explorer-error");
      set(conv, "dilation", 1);
      set(conv, "transposed", true);
      result.transposedFormula = text(conv, ".explorer-formula");
      result.transposedDrawn = drawn(conv.querySelector("canvas"));
      set(plot, "activation", "Softplus");
      result.softplusParameters = shownParameters();
      set(plot, "activation", "GELU");
      result.geluParameters = shownParameters();
      result.phoneProblems = phone.pageProblems;
      return result;
    """
    report, _ = check_page(page, chromium, script)
    assert report["problems"] == []
    result = report["result"]
    assert result["phoneProblems"] == []
    assert result["innerWidth"] == PHONE_WIDTH
    assert result["scrollWidth"] <= result["innerWidth"]  # no sideways scrolling
    assert result["convInputs"] >= 8  # six sliders, the checkbox, the position
    assert 0 < result["convCanvasWidth"] <= result["containerWidth"]
    assert result["convDrawn"] and result["plotDrawn"] and result["transposedDrawn"]
    # the first setting is arith's example: i=5, k=3, p=1, s=2 gives 3
    assert result["firstFormula"].endswith("= 3") and result["firstError"] == ""
    with pytest.raises(UserError) as kernel_too_wide:
        conv_output_size(i=5, k=3, s=2, p=1, d=4)
    assert str(kernel_too_wide.value) in result["kernelError"]
    transposed_size = transposed_output_size(i=5, k=3, s=2, p=1, d=1)
    assert result["transposedFormula"].startswith("o = (i − 1)·s")
    assert result["transposedFormula"].endswith(f"= {transposed_size}")
    assert result["reluParameters"] == []
    assert result["softplusParameters"] == ["beta", "threshold"]
    assert result["geluParameters"] == ["approximate"]
