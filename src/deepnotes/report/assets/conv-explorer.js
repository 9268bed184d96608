/* Convolution arithmetic, to play with.

   Per spatial dimension: i input size, k kernel size, p zero padding on each side, s stride,
   d dilation, o output size. A dilated kernel spans d(k − 1) + 1 input pixels; it slides over
   the padded input of i + 2p pixels in steps of s, so

       o = ⌊(i + 2p − d(k − 1) − 1)/s⌋ + 1            (convolution)

   which for d = 1 is the notes' o = ⌊(i − k + 2p)/s⌋ + 1. A transposed convolution runs the
   arithmetic backwards: each input pixel scatters a copy of the kernel onto the output, the
   copies s pixels apart, and the padding p crops p pixels off each side of the result:

       o = (i − 1)s − 2p + d(k − 1) + output_padding + 1   (transposed)

   where output_padding (smaller than s or d) picks one of the s input sizes that a stride-s
   convolution maps to the same output size. The formulas and the settings they refuse are
   those of deepnotes.arith (`output_shape`, `conv_output_size`, `transposed_output_size`), with
   the same error messages; tests/report/test_explorers.py compares the two.

   The picture is 2-D with the same settings along both axes. Convolution: the padded input
   (padding dashed), the kernel's taps at one output position, and the output with that
   position marked. Transposed: the input with one pixel marked, and the output before
   cropping, where that pixel's kernel footprint lands (the cropped border dashed, the
   input pixels' anchors, s apart, dotted).

   Paper: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016).

   API: window.deepnotes.conv.outputSize(settings) → integer, or null where deepnotes.arith
   raises; window.deepnotes.conv.check(settings) → {output, error}. settings: {input, kernel,
   stride, padding, dilation, transposed, outputPadding}. */
"use strict";

(() => {
  const { element, mountEach } = window.deepnotes.explorer;  // assets/explorer.js

  /* ------------------------------------------------------------------ the arithmetic */

  /** Input pixels a kernel of k taps spaced d apart spans: d(k − 1) + 1. */
  function dilatedKernelSize(k, d) {
    return d * (k - 1) + 1;
  }

  /** The first rule a setting breaks, as deepnotes.arith words it; null when none does. */
  function brokenRule({ i, k, s, p, d, outputPadding, transposed }) {
    const settings = { i, k, s, p, d, output_padding: outputPadding };
    for (const [name, value] of Object.entries(settings)) {
      if (!Number.isInteger(value)) return `${name} must be an integer, got ${value}`;
    }
    if (!transposed && outputPadding !== 0) {
      return "output_padding only applies to a transposed convolution";
    }
    for (const [name, value] of Object.entries({ i, k, s, d })) {
      if (value < 1) return `${name} must be a positive integer, got ${value}`;
    }
    const nonNegative = transposed ? { p, output_padding: outputPadding } : { p };
    for (const [name, value] of Object.entries(nonNegative)) {
      if (value < 0) return `${name} must be zero or more, got ${value}`;
    }
    return null;
  }

  /** {output, error}: the output size along one dimension, or why there is none. */
  function check({
    input,
    kernel,
    stride = 1,
    padding = 0,
    dilation = 1,
    transposed = false,
    outputPadding = 0,
  }) {
    const [i, k, s, p, d] = [input, kernel, stride, padding, dilation];
    const error = brokenRule({ i, k, s, p, d, outputPadding, transposed });
    if (error) return { output: null, error };
    const kernelSpan = dilatedKernelSize(k, d);
    if (transposed) {
      if (outputPadding >= Math.max(s, d)) {
        return {
          output: null,
          error:
            `output_padding=${outputPadding} must be smaller than the stride s=${s} ` +
            `or the dilation d=${d}`,
        };
      }
      const o = (i - 1) * s - 2 * p + d * (k - 1) + outputPadding + 1;
      if (o < 1) {
        return {
          output: null,
          error: `transposed convolution output size is ${o}: padding p=${p} crops away everything`,
        };
      }
      return { output: o, error: null };
    }
    if (kernelSpan > i + 2 * p) {
      return {
        output: null,
        error:
          `kernel spans ${kernelSpan} pixels (k=${k}, d=${d}) but the padded input ` +
          `has only ${i + 2 * p} (i=${i}, p=${p})`,
      };
    }
    return { output: Math.floor((i + 2 * p - kernelSpan) / s) + 1, error: null };
  }

  /** The output size, or null where deepnotes.arith raises. */
  function outputSize(settings) {
    return check(settings).output;
  }

  /** The formula, then with the numbers put in, as `deepnotes conv` prints it. */
  function formulaText({ input: i, kernel: k, stride: s, padding: p, dilation: d, transposed,
                         outputPadding }, output) {
    const result = output === null ? "" : ` = ${output}`;
    if (transposed) {
      return (
        "o = (i − 1)·s − 2p + d·(k − 1) + output_padding + 1 = " +
        `(${i} − 1)·${s} − 2·${p} + ${d}·(${k} − 1) + ${outputPadding} + 1${result}`
      );
    }
    return (
      "o = ⌊(i + 2p − d·(k − 1) − 1)/s⌋ + 1 = " +
      `⌊(${i} + 2·${p} − ${d}·(${k} − 1) − 1)/${s}⌋ + 1${result}`
    );
  }

  window.deepnotes = window.deepnotes || {};
  window.deepnotes.conv = { outputSize, check };

  /* ------------------------------------------------------------------ the controls */

  const SLIDERS = [
    // [setting, label, min, max, first value]: i=5, k=3, p=1, s=2 gives 3 (arith's example)
    ["input", "input size i", 1, 12, 5],
    ["kernel", "kernel k", 1, 6, 3],
    ["padding", "padding p", 0, 5, 1],
    ["stride", "stride s", 1, 4, 2],
    ["dilation", "dilation d", 1, 4, 1],
    ["outputPadding", "output padding", 0, 3, 0],
  ];

  /** A labelled slider with its value beside it; returns the <input>. */
  function slider(parent, name, label, min, max, value) {
    const row = element("label", { class: "explorer-control" }, parent);
    row.style.cssText = "display:inline-flex;align-items:center;gap:0.4em;margin:0.2em 1em 0.2em 0";
    element("span", { text: label }, row);
    const input = element(
      "input",
      { type: "range", min, max, step: 1, value, "data-setting": name, "aria-label": label },
      row,
    );
    input.style.cssText = "width:7em;max-width:40vw";
    const shown = element("output", { text: String(value) }, row);
    shown.style.cssText = "min-width:1.5em;font-variant-numeric:tabular-nums";
    input.addEventListener("input", () => (shown.textContent = input.value));
    return input;
  }

  /* ------------------------------------------------------------------ the picture */

  /** Colours from the page, so that the picture follows its light or dark theme. */
  function palette(container) {
    const style = getComputedStyle(container);
    const custom = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    return {
      text: style.color,
      rule: custom("--rule", "rgba(128, 128, 128, 0.6)"),
      muted: custom("--muted", "gray"),
      accent: custom("--accent", "#2a7ae2"),
      tap: "#e8590c", // orange reads on white and on near-black alike
    };
  }

  /** A square grid of n×n cells of `cell` pixels at (x, y); `kind(row, col)` styles each. */
  function drawGrid(ctx, colours, x, y, n, cell, kind) {
    for (let row = 0; row < n; row++) {
      for (let col = 0; col < n; col++) {
        const look = kind(row, col);
        const left = x + col * cell;
        const top = y + row * cell;
        if (look.fill) {
          ctx.globalAlpha = look.alpha ?? 1;
          ctx.fillStyle = look.fill;
          ctx.fillRect(left, top, cell, cell);
          ctx.globalAlpha = 1;
        }
        ctx.setLineDash(look.dashed ? [2, 2] : []);
        ctx.strokeStyle = look.dashed ? colours.muted : colours.rule;
        ctx.lineWidth = 1;
        ctx.strokeRect(left + 0.5, top + 0.5, cell - 1, cell - 1);
      }
    }
    ctx.setLineDash([]);
  }

  function outline(ctx, colour, x, y, width, height) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.strokeRect(x + 1, y + 1, width - 2, height - 2);
  }

  /** Two panels, side by side on a wide screen and one above the other on a phone. */
  function layout(width, leftCells, rightCells) {
    const gap = 16;
    const label = 20;
    const sideBySide = width >= 560;
    const panelWidth = sideBySide ? (width - gap) / 2 : width;
    const cellFor = (cells) => Math.max(2, Math.min(28, Math.floor((panelWidth - 2) / cells)));
    const left = { x: 0, y: label, cell: cellFor(leftCells), cells: leftCells, panelWidth };
    const right = { cell: cellFor(rightCells), cells: rightCells, panelWidth };
    if (sideBySide) {
      Object.assign(right, { x: panelWidth + gap, y: label });
    } else {
      Object.assign(right, { x: 0, y: left.y + leftCells * left.cell + gap + label });
    }
    const bottom = (panel) => panel.y + panel.cells * panel.cell;
    return { left, right, height: Math.max(bottom(left), rightCells ? bottom(right) : 0) + 4 };
  }

  function caption(ctx, colours, panel, text) {
    ctx.fillStyle = colours.text;
    ctx.font = "13px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    ctx.fillText(text, panel.x, panel.y - 4, panel.panelWidth); // squeezed to fit a phone
  }

  /** Convolution: the padded input with the kernel's taps at output (row, col), the output. */
  function drawConvolution(ctx, colours, panels, settings, o, position) {
    const { input: i, kernel: k, padding: p, stride: s, dilation: d } = settings;
    const padded = i + 2 * p;
    const row = o ? Math.floor(position / o) : 0;
    const col = o ? position % o : 0;
    const isTap = (r, c) => {
      const [dr, dc] = [r - row * s, c - col * s];
      return o && dr >= 0 && dc >= 0 && dr % d === 0 && dc % d === 0 && dr / d < k && dc / d < k;
    };
    const isPadding = (r, c) => r < p || c < p || r >= p + i || c >= p + i;
    const { left, right } = panels;
    drawGrid(ctx, colours, left.x, left.y, padded, left.cell, (r, c) => {
      if (isTap(r, c)) return { fill: colours.tap, alpha: 0.75, dashed: isPadding(r, c) };
      if (isPadding(r, c)) return { dashed: true };
      return { fill: colours.accent, alpha: 0.18 };
    });
    caption(ctx, colours, left, `input ${i}×${i}, padded to ${padded}×${padded}`);
    if (!o) return;
    const span = dilatedKernelSize(k, d) * left.cell;
    outline(ctx, colours.tap, left.x + col * s * left.cell, left.y + row * s * left.cell, span, span);
    drawGrid(ctx, colours, right.x, right.y, o, right.cell, (r, c) =>
      r === row && c === col ? { fill: colours.tap, alpha: 0.75 } : { fill: colours.accent, alpha: 0.18 },
    );
    caption(ctx, colours, right, `output ${o}×${o}, position (${row}, ${col})`);
  }

  /** Output pixels drawn for a transposed convolution: output pixel q sits at q + p of the
      uncropped result, which spans (i − 1)s + d(k − 1) + 1 pixels; output_padding extends
      the far side, maybe past it. */
  function transposedExtent({ input: i, kernel: k, padding: p, stride: s, dilation: d }, o) {
    return o ? Math.max((i - 1) * s + dilatedKernelSize(k, d), p + o) : 0;
  }

  /** The two panels' cells: input (padded) and output, or for a transposed one input and
      uncropped output. */
  function place(width, settings, o) {
    if (settings.transposed) return layout(width, settings.input, transposedExtent(settings, o));
    return layout(width, settings.input + 2 * settings.padding, o ?? 0);
  }

  /** Transposed: input pixel (row, col) scatters its kernel footprint onto the output. */
  function drawTransposed(ctx, colours, panels, settings, o, position) {
    const { input: i, kernel: k, padding: p, stride: s, dilation: d } = settings;
    const shown = transposedExtent(settings, o);
    const row = Math.floor(position / i);
    const col = position % i;
    const { left, right } = panels;
    drawGrid(ctx, colours, left.x, left.y, i, left.cell, (r, c) =>
      r === row && c === col ? { fill: colours.tap, alpha: 0.75 } : { fill: colours.accent, alpha: 0.18 },
    );
    caption(ctx, colours, left, `input ${i}×${i}, pixel (${row}, ${col})`);
    if (!o) return;
    const isKept = (r, c) => r >= p && c >= p && r < p + o && c < p + o;
    const isFootprint = (r, c) => {
      const [dr, dc] = [r - row * s, c - col * s];
      return dr >= 0 && dc >= 0 && dr % d === 0 && dc % d === 0 && dr / d < k && dc / d < k;
    };
    drawGrid(ctx, colours, right.x, right.y, shown, right.cell, (r, c) => {
      const dashed = !isKept(r, c);
      if (isFootprint(r, c)) return { fill: colours.tap, alpha: dashed ? 0.35 : 0.75, dashed };
      return dashed ? { dashed } : { fill: colours.accent, alpha: 0.18 };
    });
    // each input pixel's anchor: where its footprint starts, s output pixels apart
    ctx.fillStyle = colours.text;
    const radius = Math.max(1, right.cell / 8);
    for (let r = 0; r < i; r++) {
      for (let c = 0; c < i; c++) {
        ctx.beginPath();
        ctx.arc(right.x + (c * s + 0.5) * right.cell, right.y + (r * s + 0.5) * right.cell,
                radius, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    outline(ctx, colours.accent, right.x + p * right.cell, right.y + p * right.cell,
            o * right.cell, o * right.cell);
    caption(ctx, colours, right, `output ${o}×${o}, framed (dashed: cropped by p)`);
  }

  /* ------------------------------------------------------------------ one explorer */

  function mount(container) {
    const controls = element("div", { class: "explorer-controls" }, container);
    const inputs = {};
    for (const [name, label, min, max, value] of SLIDERS) {
      inputs[name] = slider(controls, name, label, min, max, value);
    }
    const transposedRow = element("label", { class: "explorer-control" }, controls);
    transposedRow.style.cssText = "display:inline-flex;align-items:center;gap:0.4em";
    const transposed = element("input", { type: "checkbox", "data-setting": "transposed" },
                               transposedRow);
    element("span", { text: "transposed" }, transposedRow);

    const formula = element("p", { class: "explorer-formula" }, container);
    formula.style.cssText = "font-family:ui-monospace,monospace;overflow-wrap:anywhere";
    const error = element("p", { class: "explorer-error", role: "alert" }, container);
    error.style.cssText = "color:var(--fail, #b00020);overflow-wrap:anywhere";

    const stepper = element("div", { class: "explorer-stepper" }, container);
    stepper.style.cssText = "display:flex;flex-wrap:wrap;align-items:center;gap:0.4em";
    const previous = element("button", { type: "button", text: "◀", "aria-label": "previous position" },
                             stepper);
    const next = element("button", { type: "button", text: "▶", "aria-label": "next position" },
                         stepper);
    const play = element("button", { type: "button", text: "play" }, stepper);
    const position = element(
      "input",
      { type: "range", min: 0, max: 0, step: 1, value: 0, "data-setting": "position",
        "aria-label": "kernel position" },
      stepper,
    );
    position.style.cssText = "flex:1 1 8em;min-width:6em";

    const canvas = element("canvas", { role: "img" }, container);
    canvas.style.cssText = "display:block;width:100%;max-width:100%;margin-top:0.5em";
    const context = canvas.getContext("2d");

    function settings() {
      const chosen = {};
      for (const [name] of SLIDERS) chosen[name] = Number(inputs[name].value);
      chosen.transposed = transposed.checked;
      if (!chosen.transposed) chosen.outputPadding = 0; // it only applies to a transposed one
      return chosen;
    }

    function draw() {
      const chosen = settings();
      inputs.outputPadding.disabled = !chosen.transposed;
      const { output, error: message } = check(chosen);
      formula.textContent = formulaText(chosen, output);
      error.textContent = message ? `No output: ${message}.` : "";
      // the positions stepped through: output pixels, or for a transposed one input pixels
      const positions = chosen.transposed ? chosen.input ** 2 : (output ?? 0) ** 2;
      position.max = Math.max(0, positions - 1);
      position.disabled = positions === 0;
      const at = Math.min(Number(position.value), Math.max(0, positions - 1));

      const width = Math.max(120, Math.floor(container.clientWidth - 2));
      const scale = window.devicePixelRatio || 1;
      const panels = place(width, chosen, output);
      const height = panels.height;
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      canvas.style.height = `${height}px`;
      context.setTransform(scale, 0, 0, scale, 0, 0);
      context.clearRect(0, 0, width, height);
      const drawPicture = chosen.transposed ? drawTransposed : drawConvolution;
      drawPicture(context, palette(container), panels, chosen, output, at);
      canvas.setAttribute("aria-label", formula.textContent);
    }

    function step(by) {
      const count = Number(position.max) + 1;
      position.value = String((Number(position.value) + by + count) % count);
      draw();
    }

    let timer = null;
    play.addEventListener("click", () => {
      if (timer) {
        clearInterval(timer);
        timer = null;
        play.textContent = "play";
      } else {
        timer = setInterval(() => step(1), 700);
        play.textContent = "pause";
      }
    });
    previous.addEventListener("click", () => step(-1));
    next.addEventListener("click", () => step(1));
    for (const control of [...Object.values(inputs), transposed, position]) {
      control.addEventListener("input", draw);
    }
    new ResizeObserver(draw).observe(container);
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
    draw();
  }

  mountEach("conv", mount);
})();
