/* Activation functions and their derivatives, to play with.

   Without a non-linearity φ a stack of linear layers is one linear map,
   W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂); φ is what lets depth add expressive power.
   Backpropagation multiplies the gradient by φ′(x) at every layer, so the shape of φ′ decides
   how a gradient survives a deep stack: sigmoid and tanh saturate (φ′ → 0 for large |x|, the
   vanishing gradient), ReLU passes 1 or blocks with 0 (dead units), LeakyReLU and the ELUs
   keep a slope below 0.

   Each element-wise activation of deepnotes.nn.activations is written here as f(x) and f′(x),
   by the same formulas, with the same parameters under the same names and defaults (torch's),
   and the same derivatives at the kinks: ReLU′(0) = 0, LeakyReLU′(0) = PReLU′(0) = the
   negative slope, ELU′(0) = α, SELU′(0) = λα. Softmax, Softmin and LogSoftmax act on vectors,
   not on one x, so they are not drawn. tests/report/test_explorers.py compares every f and f′
   with the package's modules and torch's autograd.

   API: window.deepnotes.activations[NAME] = {params: {name: default, ...}, f(x, params),
   df(x, params), formula}, NAME the package's class name (ReLU, Softplus, ...); params may
   leave out a parameter, which then takes its default. */
"use strict";

(() => {
  const { element, mountEach } = window.deepnotes.explorer;  // assets/explorer.js

  /* ------------------------------------------------------------------ the functions */

  /** σ(x) = 1/(1 + e^{−x}), the logistic sigmoid. */
  function sigmoid(x) {
    return 1 / (1 + Math.exp(-x));
  }

  /** erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, by the series 2/√π · e^{−x²} Σₙ 2ⁿx^{2n+1}/(1·3···(2n+1))
      (Abramowitz & Stegun 7.1.6): its terms are all positive, so nothing cancels. JavaScript
      has no Math.erf. Past |x| = 6, erf(x) rounds to ±1 in float64. */
  function erf(x) {
    if (Math.abs(x) >= 6) return Math.sign(x);
    let term = x;
    let sum = x;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }

  /** Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF. */
  function normalCdf(x) {
    return 0.5 * (1 + erf(x / Math.SQRT2));
  }

  /** φ(x) = e^{−x²/2}/√(2π), the standard normal density. */
  function normalDensity(x) {
    return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  }

  // Klambauer et al. (2017), eq. 14: the fixed point (mean 0, variance 1) of the SELU map.
  const SELU_ALPHA = 1.6732632423543772848170429916717;
  const SELU_SCALE = 1.0507009873554804934193349852946;
  // Hendrycks & Gimpel's fit Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))).
  const GELU_TANH_SCALE = Math.sqrt(2 / Math.PI);
  const GELU_TANH_CUBIC = 0.044715;

  /** The ELU family: λ·(x for x > 0, α(e^{s·x} − 1) for x ≤ 0), with slope λ·(1, or αs·e^{s·x}).
      ELU has s = λ = 1, CELU s = 1/α, SELU Klambauer et al.'s λ and α. */
  const exponentialLinear = (alpha, inputScale, outputScale) => ({
    f: (x) => outputScale * (x > 0 ? x : alpha * Math.expm1(inputScale * x)),
    df: (x) => outputScale * (x > 0 ? 1 : alpha * inputScale * Math.exp(inputScale * x)),
  });

  const ACTIVATIONS = {
    Sigmoid: {
      params: {},
      formula: "σ(x) = 1/(1 + e^{−x});   σ′(x) = σ(x)(1 − σ(x)), at most 1/4",
      f: (x) => sigmoid(x),
      df: (x) => sigmoid(x) * (1 - sigmoid(x)),
    },
    Tanh: {
      params: {},
      formula: "tanh(x) = (e^{x} − e^{−x})/(e^{x} + e^{−x});   tanh′(x) = 1 − tanh²(x)",
      f: (x) => Math.tanh(x),
      df: (x) => 1 - Math.tanh(x) ** 2,
    },
    ReLU: {
      params: {},
      formula: "ReLU(x) = max(0, x);   ReLU′(x) = 1 for x > 0, 0 for x ≤ 0",
      f: (x) => Math.max(0, x),
      df: (x) => (x > 0 ? 1 : 0),
    },
    ReLU6: {
      params: {},
      formula: "ReLU6(x) = min(max(0, x), 6);   ReLU6′(x) = 1 for 0 < x < 6, else 0",
      f: (x) => Math.min(Math.max(0, x), 6),
      df: (x) => (x > 0 && x < 6 ? 1 : 0),
    },
    LeakyReLU: {
      params: { negative_slope: 0.01 },
      formula: "LeakyReLU(x) = x for x > 0, a·x for x ≤ 0 (a = negative_slope);   " +
               "LeakyReLU′(x) = 1 for x > 0, a for x ≤ 0",
      f: (x, { negative_slope: a }) => (x > 0 ? x : a * x),
      df: (x, { negative_slope: a }) => (x > 0 ? 1 : a),
    },
    PReLU: {
      params: { init: 0.25 },
      formula: "PReLU(x) = x for x > 0, a·x for x ≤ 0, a learned (starting at init);   " +
               "∂/∂x = 1 for x > 0, a for x ≤ 0",
      f: (x, { init: a }) => (x > 0 ? x : a * x),
      df: (x, { init: a }) => (x > 0 ? 1 : a),
    },
    Softplus: {
      params: { beta: 1.0, threshold: 20.0 },
      formula: "Softplus(x) = log(1 + e^{βx})/β, or x where βx > threshold;   " +
               "Softplus′(x) = σ(βx), or 1",
      f: (x, { beta, threshold }) =>
        beta * x > threshold ? x : Math.log1p(Math.exp(beta * x)) / beta,
      df: (x, { beta, threshold }) => (beta * x > threshold ? 1 : sigmoid(beta * x)),
    },
    ELU: {
      params: { alpha: 1.0 },
      formula: "ELU(x) = x for x > 0, α(e^{x} − 1) for x ≤ 0;   ELU′(x) = 1 for x > 0, αe^{x} for x ≤ 0",
      f: (x, { alpha }) => exponentialLinear(alpha, 1, 1).f(x),
      df: (x, { alpha }) => exponentialLinear(alpha, 1, 1).df(x),
    },
    CELU: {
      params: { alpha: 1.0 },
      formula: "CELU(x) = max(0, x) + min(0, α(e^{x/α} − 1));   " +
               "CELU′(x) = 1 for x > 0, e^{x/α} for x ≤ 0",
      f: (x, { alpha }) => exponentialLinear(alpha, 1 / alpha, 1).f(x),
      df: (x, { alpha }) => exponentialLinear(alpha, 1 / alpha, 1).df(x),
    },
    SELU: {
      params: {},
      formula: "SELU(x) = λ·(x for x > 0, α(e^{x} − 1) for x ≤ 0), λ ≈ 1.0507, α ≈ 1.6733;   " +
               "SELU′(x) = λ for x > 0, λαe^{x} for x ≤ 0",
      f: (x) => exponentialLinear(SELU_ALPHA, 1, SELU_SCALE).f(x),
      df: (x) => exponentialLinear(SELU_ALPHA, 1, SELU_SCALE).df(x),
    },
    GELU: {
      params: { approximate: "none" },
      formula: "GELU(x) = x·Φ(x), Φ the standard normal CDF;   GELU′(x) = Φ(x) + x·φ(x); " +
               "approximate = tanh: Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³)))",
      f: (x, { approximate }) => {
        if (approximate === "tanh") return x * sigmoid(2 * geluTanhInner(x)); // ½(1 + tanh u) = σ(2u)
        return x * normalCdf(x);
      },
      df: (x, { approximate }) => {
        if (approximate === "tanh") {
          const s = sigmoid(2 * geluTanhInner(x));
          const innerSlope = GELU_TANH_SCALE * (1 + 3 * GELU_TANH_CUBIC * x * x); // u′
          return s + x * s * (1 - s) * 2 * innerSlope;
        }
        return normalCdf(x) + x * normalDensity(x);
      },
    },
    LogSigmoid: {
      params: {},
      formula: "log σ(x) = min(x, 0) − log(1 + e^{−|x|});   (log σ)′(x) = 1 − σ(x)",
      f: (x) => Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x))),
      df: (x) => sigmoid(-x),
    },
  };

  /** u = √(2/π)(x + 0.044715x³), the argument of GELU's tanh fit. */
  function geluTanhInner(x) {
    return GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x ** 3);
  }

  /* The exposed functions fill in the parameters left out with their defaults. */
  const exposed = {};
  for (const [name, activation] of Object.entries(ACTIVATIONS)) {
    const withDefaults = (params) => ({ ...activation.params, ...(params || {}) });
    exposed[name] = {
      params: { ...activation.params },
      formula: activation.formula,
      f: (x, params) => activation.f(x, withDefaults(params)),
      df: (x, params) => activation.df(x, withDefaults(params)),
    };
  }
  window.deepnotes = window.deepnotes || {};
  window.deepnotes.activations = exposed;

  /* ------------------------------------------------------------------ the controls */

  // each number parameter's slider: [min, max, step]
  const SLIDER_RANGES = {
    negative_slope: [-0.5, 1, 0.01],
    init: [-0.5, 1, 0.01],
    beta: [0.25, 8, 0.25],
    threshold: [1, 30, 1],
    alpha: [0.1, 3, 0.05],
  };
  const LABELS = {
    negative_slope: "negative_slope a",
    init: "init a",
    beta: "beta β",
    threshold: "threshold",
    alpha: "alpha α",
    approximate: "approximate",
  };
  const X_RANGE = [-5, 5];

  /** Colours from the page, so that the plot follows its light or dark theme. */
  function palette(container) {
    const style = getComputedStyle(container);
    const custom = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      text: style.color,
      rule: custom("--rule", "rgba(128, 128, 128, 0.5)"),
      f: custom("--accent", "#2a7ae2"),
      df: "#e8590c", // orange reads on white and on near-black alike
    };
  }

  /** Tick values from lo to hi, a round step apart, about `count` of them. */
  function ticks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= raw);
    const values = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) values.push(+v.toFixed(6));
    return values;
  }

  /** f and f′ over x ∈ [−5, 5] on axes that fit both. */
  function plot(ctx, colours, width, height, activation, params) {
    const samples = 400;
    const xs = Array.from({ length: samples + 1 }, (_, n) => X_RANGE[0] + (n * 10) / samples);
    const curves = [
      { values: xs.map((x) => activation.f(x, params)), colour: colours.f, dash: [], label: "f(x)" },
      { values: xs.map((x) => activation.df(x, params)), colour: colours.df, dash: [6, 4],
        label: "f′(x)" },
    ];
    const all = curves.flatMap((curve) => curve.values).filter(Number.isFinite);
    let [yLow, yHigh] = [Math.min(-1, ...all), Math.max(1, ...all)];
    const margin = 0.08 * (yHigh - yLow);
    [yLow, yHigh] = [yLow - margin, yHigh + margin];

    const box = { left: 34, right: width - 8, top: 8, bottom: height - 22 };
    const toX = (x) => box.left + ((x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0])) * (box.right - box.left);
    const toY = (y) => box.bottom - ((y - yLow) / (yHigh - yLow)) * (box.bottom - box.top);

    ctx.font = "12px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.fillStyle = colours.text;
    for (const x of ticks(X_RANGE[0], X_RANGE[1], 10)) {
      ctx.strokeStyle = colours.rule;
      ctx.beginPath();
      ctx.moveTo(toX(x), box.top);
      ctx.lineTo(toX(x), box.bottom);
      ctx.stroke();
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.fillText(String(x), toX(x), box.bottom + 4);
    }
    for (const y of ticks(yLow, yHigh, 6)) {
      ctx.strokeStyle = colours.rule;
      ctx.beginPath();
      ctx.moveTo(box.left, toY(y));
      ctx.lineTo(box.right, toY(y));
      ctx.stroke();
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(String(y), box.left - 4, toY(y));
    }
    ctx.strokeStyle = colours.text; // the axes x = 0 and y = 0
    ctx.beginPath();
    ctx.moveTo(toX(0), box.top);
    ctx.lineTo(toX(0), box.bottom);
    ctx.moveTo(box.left, toY(0));
    ctx.lineTo(box.right, toY(0));
    ctx.stroke();

    ctx.lineWidth = 2.5;
    curves.forEach((curve, index) => {
      ctx.strokeStyle = curve.colour;
      ctx.setLineDash(curve.dash);
      ctx.beginPath();
      xs.forEach((x, n) => (n ? ctx.lineTo : ctx.moveTo).call(ctx, toX(x), toY(curve.values[n])));
      ctx.stroke();
      // the legend, top left
      const y = box.top + 10 + 18 * index;
      ctx.beginPath();
      ctx.moveTo(box.left + 8, y);
      ctx.lineTo(box.left + 36, y);
      ctx.stroke();
      ctx.fillStyle = colours.text;
      ctx.textAlign = "left";
      ctx.textBaseline = "middle";
      ctx.fillText(curve.label, box.left + 42, y);
    });
    ctx.setLineDash([]);
  }

  /* ------------------------------------------------------------------ one explorer */

  function mount(container) {
    const controls = element("div", { class: "explorer-controls" }, container);
    controls.style.cssText = "display:flex;flex-wrap:wrap;align-items:center;gap:0.4em 1em";
    const chooserRow = element("label", { class: "explorer-control" }, controls);
    element("span", { text: "activation " }, chooserRow);
    const chooser = element("select", { "data-setting": "activation" }, chooserRow);
    for (const name of Object.keys(ACTIVATIONS)) element("option", { value: name, text: name }, chooser);
    chooser.value = "ReLU";

    // one control per parameter name; each activation shows those it takes
    const parameterRows = {};
    const parameterInputs = {};
    const showValue = {}; // writes a slider's value beside it
    for (const name of Object.keys(LABELS)) {
      const row = element("label", { class: "explorer-control" }, controls);
      row.style.cssText = "display:inline-flex;align-items:center;gap:0.4em";
      element("span", { text: LABELS[name] }, row);
      let input;
      if (name === "approximate") {
        input = element("select", { "data-setting": name }, row);
        for (const value of ["none", "tanh"]) element("option", { value, text: value }, input);
      } else {
        const [min, max, step] = SLIDER_RANGES[name];
        input = element("input", { type: "range", min, max, step, "data-setting": name,
                                   "aria-label": LABELS[name] }, row);
        input.style.cssText = "width:7em;max-width:40vw";
        const shown = element("output", {}, row);
        shown.style.cssText = "min-width:2.5em;font-variant-numeric:tabular-nums";
        showValue[name] = () => (shown.textContent = input.value);
        input.addEventListener("input", showValue[name]);
      }
      parameterRows[name] = row;
      parameterInputs[name] = input;
    }

    const formula = element("p", { class: "explorer-formula" }, container);
    formula.style.cssText = "overflow-wrap:anywhere";
    const canvas = element("canvas", { role: "img" }, container);
    canvas.style.cssText = "display:block;width:100%;max-width:100%";
    const context = canvas.getContext("2d");

    /** Show the chosen activation's parameters, each at its default. */
    function choose() {
      const activation = ACTIVATIONS[chooser.value];
      for (const [name, row] of Object.entries(parameterRows)) {
        const takes = name in activation.params;
        row.style.display = takes ? "inline-flex" : "none";
        if (takes) {
          parameterInputs[name].value = String(activation.params[name]);
          showValue[name]?.();
        }
      }
      draw();
    }

    function draw() {
      const name = chooser.value;
      const activation = exposed[name];
      const params = {};
      for (const [parameter, fallback] of Object.entries(activation.params)) {
        const value = parameterInputs[parameter].value;
        params[parameter] = typeof fallback === "number" ? Number(value) : value;
      }
      formula.textContent = activation.formula;
      const width = Math.max(120, Math.floor(container.clientWidth - 2));
      const height = Math.round(Math.min(360, Math.max(220, width * 0.6)));
      const scale = window.devicePixelRatio || 1;
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      canvas.style.height = `${height}px`;
      context.setTransform(scale, 0, 0, scale, 0, 0);
      context.clearRect(0, 0, width, height);
      plot(context, palette(container), width, height, activation, params);
      const shown = Object.entries(params).map(([key, value]) => `${key}=${value}`).join(", ");
      canvas.setAttribute("aria-label", `${name}(${shown}) and its derivative for x from −5 to 5`);
    }

    chooser.addEventListener("input", choose);
    for (const input of Object.values(parameterInputs)) input.addEventListener("input", draw);
    new ResizeObserver(() => draw()).observe(container);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => draw());
    choose();
  }

  mountEach("activations", mount);
})();
