/* Draw a digit: the trained LeNet classifies it in the page.

   The network is the ReLU LeNet that the `lenet-digits` experiment trained on scikit-learn's
   8×8 digits (UCI: 32×32 bitmaps of handwriting, each 4×4 block's count of ink, 0..16),
   upsampled bilinearly to 28×28 and standardised. Its weights come from
   assets/lenet-weights.js (window.deepnotes.lenetWeights, written by deepnotes.report.digit).

   The forward pass is the lesson of weeks 3–4, written out:
     convolution   y[o][i][j] = b[o] + Σ_c Σ_u Σ_v w[o][c][u][v] · x[c][i+u−p][j+v−p]
     ReLU          max(0, y);  sigmoid 1 / (1 + e^−y)
     pooling       the max (or mean) of each k×k window, moved by the stride
     dense         y = W x + b
   in float64; the browser test checks the logits equal PyTorch's to 1e-4.

   What the reader draws goes through the data set's own steps: the ink's bounding box is
   scaled to fit a 32×32 bitmap, centred; each 4×4 block's share of ink is one of the 8×8
   pixels; then the same bilinear upsampling and standardisation as in training. */
(() => {
  "use strict";

  // ---- The forward pass ------------------------------------------------------------------

  /** A (C, H, W) tensor as a flat Float64Array with its shape. */
  const tensor = (channels, height, width) => ({
    channels, height, width, data: new Float64Array(channels * height * width),
  });

  function conv2d(x, layer) {
    const k = layer.kernel, p = layer.padding;
    const out = tensor(layer.outChannels, x.height + 2 * p - k + 1, x.width + 2 * p - k + 1);
    for (let o = 0; o < out.channels; o++) {
      for (let i = 0; i < out.height; i++) {
        for (let j = 0; j < out.width; j++) {
          let sum = layer.bias[o];
          for (let c = 0; c < x.channels; c++) {
            for (let u = 0; u < k; u++) {
              const row = i + u - p;
              if (row < 0 || row >= x.height) continue;  // zero padding
              for (let v = 0; v < k; v++) {
                const col = j + v - p;
                if (col < 0 || col >= x.width) continue;
                sum += layer.weight[((o * x.channels + c) * k + u) * k + v] *
                       x.data[(c * x.height + row) * x.width + col];
              }
            }
          }
          out.data[(o * out.height + i) * out.width + j] = sum;
        }
      }
    }
    return out;
  }

  function pool(x, layer, combine) {
    const k = layer.kernel, s = layer.stride;
    const out = tensor(x.channels, Math.floor((x.height - k) / s) + 1,
                       Math.floor((x.width - k) / s) + 1);
    for (let c = 0; c < x.channels; c++) {
      for (let i = 0; i < out.height; i++) {
        for (let j = 0; j < out.width; j++) {
          const window = [];
          for (let u = 0; u < k; u++) {
            for (let v = 0; v < k; v++) {
              window.push(x.data[(c * x.height + i * s + u) * x.width + j * s + v]);
            }
          }
          out.data[(c * out.height + i) * out.width + j] = combine(window);
        }
      }
    }
    return out;
  }

  function linear(x, layer) {
    const out = new Float64Array(layer.outFeatures);
    for (let o = 0; o < layer.outFeatures; o++) {
      let sum = layer.bias[o];
      for (let i = 0; i < layer.inFeatures; i++) sum += layer.weight[o * layer.inFeatures + i] * x[i];
      out[o] = sum;
    }
    return out;
  }

  const elementwise = (x, f) => {
    const data = x.data ? x.data.map(f) : x.map(f);
    return x.data ? { ...x, data } : data;
  };

  /** Run the layers on a standardised input of `size` = [C, H, W]: the logits, and the
      feature maps after each activation while the tensor is still an image. */
  function forward(input, layers, size) {
    let x = tensor(...size);
    x.data.set(input);
    const maps = [];
    for (const layer of layers) {
      if (layer.type === "conv2d") x = conv2d(x, layer);
      else if (layer.type === "maxpool") x = pool(x, layer, (w) => Math.max(...w));
      else if (layer.type === "avgpool") x = pool(x, layer, (w) => w.reduce((a, b) => a + b) / w.length);
      else if (layer.type === "flatten") x = Float64Array.from(x.data);  // (C, H, W) → (C·H·W)
      else if (layer.type === "linear") x = linear(x, layer);
      else if (layer.type === "relu") x = elementwise(x, (v) => Math.max(0, v));
      else if (layer.type === "sigmoid") x = elementwise(x, (v) => 1 / (1 + Math.exp(-v)));
      else throw new Error("unknown layer " + layer.type);
      if ((layer.type === "relu" || layer.type === "sigmoid") && x.data) maps.push(x);
    }
    return { logits: Array.from(x), maps };
  }

  // ---- The data set's steps --------------------------------------------------------------

  /** Bilinear upsampling of an n×n image to size×size, as torch's
      interpolate(mode="bilinear", align_corners=False): output pixel o reads the input at
      (o + ½)·n/size − ½, clamped at 0, between its two neighbours. */
  function upsample(pixels, n, size) {
    const source = (o) => {
      const real = Math.max(0, (o + 0.5) * (n / size) - 0.5);
      const low = Math.floor(real);
      return [low, low < n - 1 ? low + 1 : low, real - low];
    };
    const out = new Float64Array(size * size);
    for (let i = 0; i < size; i++) {
      const [r0, r1, dr] = source(i);
      for (let j = 0; j < size; j++) {
        const [c0, c1, dc] = source(j);
        const top = pixels[r0 * n + c0] * (1 - dc) + pixels[r0 * n + c1] * dc;
        const bottom = pixels[r1 * n + c0] * (1 - dc) + pixels[r1 * n + c1] * dc;
        out[i * size + j] = top * (1 - dr) + bottom * dr;
      }
    }
    return out;
  }

  /** An 8×8 digit in [0, 1] (count of ink / 16) → the standardised input the network takes
      (28×28 for LeNet). */
  function prepare(pixels8, weights) {
    return upsample(pixels8, 8, weights.inputSize[1]).map((v) => (v - weights.mean) / weights.std);
  }

  function classify8x8(pixels8) {
    const weights = window.deepnotes.lenetWeights;
    return forward(prepare(pixels8, weights), weights.layers, weights.inputSize);
  }

  /** What was drawn on `canvas` as the data set's 8×8 pixels: the ink's bounding box scaled
      into a 32×32 bitmap, centred, then each 4×4 block's share of ink; null when the canvas
      holds no ink. */
  function digitPixels(canvas) {
    const { width, height } = canvas;
    const ink = canvas.getContext("2d").getImageData(0, 0, width, height).data;
    let top = height, bottom = -1, left = width, right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[(y * width + x) * 4 + 3] > 127) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) return null;  // nothing drawn
    const pixels = new Float64Array(64);
    const bitmap = document.createElement("canvas");
    bitmap.width = bitmap.height = 32;
    const box = Math.max(bottom - top + 1, right - left + 1);
    const scale = 32 / box;
    const context = bitmap.getContext("2d");
    context.drawImage(canvas, left, top, right - left + 1, bottom - top + 1,
                      (32 - (right - left + 1) * scale) / 2, (32 - (bottom - top + 1) * scale) / 2,
                      (right - left + 1) * scale, (bottom - top + 1) * scale);
    const bits = context.getImageData(0, 0, 32, 32).data;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        if (bits[(y * 32 + x) * 4 + 3] > 127) pixels[Math.floor(y / 4) * 8 + Math.floor(x / 4)] += 1 / 16;
      }
    }
    return pixels;
  }

  // ---- The figure -------------------------------------------------------------------------

  const softmax = (logits) => {
    const top = Math.max(...logits);
    const e = logits.map((v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b);
    return e.map((v) => v / total);
  };

  function drawMap(map, channel, scale, colour) {
    const canvas = document.createElement("canvas");
    canvas.width = map.width * scale;
    canvas.height = map.height * scale;
    const context = canvas.getContext("2d");
    const values = map.data.subarray(channel * map.height * map.width,
                                     (channel + 1) * map.height * map.width);
    const top = Math.max(...values) || 1;
    for (let i = 0; i < map.height; i++) {
      for (let j = 0; j < map.width; j++) {
        context.globalAlpha = Math.max(0, values[i * map.width + j]) / top;
        context.fillStyle = colour;
        context.fillRect(j * scale, i * scale, scale, scale);
      }
    }
    return canvas;
  }

  function show(result, container) {
    const colour = getComputedStyle(container).color;
    const probabilities = softmax(result.logits);
    const best = probabilities.indexOf(Math.max(...probabilities));
    const bars = container.querySelector(".digit-bars");
    bars.replaceChildren(...probabilities.map((p, digit) => {
      const row = document.createElement("div");
      row.className = "digit-bar";
      row.textContent = `${digit} ${(100 * p).toFixed(1)}%`;
      row.style.background = `linear-gradient(to right, var(--accent) ${100 * p}%, transparent 0)`;
      if (digit === best) row.style.fontWeight = "700";
      return row;
    }));
    container.querySelector(".digit-answer").textContent = `LeNet reads: ${best}`;
    const maps = container.querySelector(".digit-maps");
    maps.replaceChildren(...result.maps.map((map, n) => {
      const group = document.createElement("div");
      const title = document.createElement("p");
      title.textContent = `after activation ${n + 1}: ${map.channels} maps of ${map.height}×${map.width}`;
      group.append(title);
      for (let c = 0; c < map.channels; c++) group.append(drawMap(map, c, map.height > 14 ? 2 : 4, colour));
      return group;
    }));
  }

  /** Show a size×size image in [0, 1] on the pad, as ink (a test digit, as the network
      sees it). */
  function paint(pad, pixels, size) {
    const context = pad.getContext("2d");
    const cell = pad.width / size;
    context.clearRect(0, 0, pad.width, pad.height);
    context.fillStyle = getComputedStyle(pad).color;
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        context.globalAlpha = Math.min(1, Math.max(0, pixels[i * size + j]));
        context.fillRect(j * cell, i * cell, cell, cell);
      }
    }
    context.globalAlpha = 1;
  }

  const PROMPT = "Draw a digit (0–9), large, in the square.";

  function reset(container) {
    container.querySelector(".digit-answer").textContent = PROMPT;
    container.querySelector(".digit-bars").replaceChildren();
    container.querySelector(".digit-maps").replaceChildren();
  }

  function build(container) {
    const weights = window.deepnotes.lenetWeights;
    container.innerHTML = `
      <style>
        .digit-pad { touch-action: none; width: min(280px, 100%); aspect-ratio: 1;
                     border: 1px solid var(--rule); background: var(--background); cursor: crosshair; }
        .digit-bar { padding: 0 0.3em; margin: 1px 0; font-variant-numeric: tabular-nums; }
        .digit-maps canvas { margin: 2px; border: 1px solid var(--rule); }
        .digit-row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
        .digit-row > div { min-width: 0; }
      </style>
      <div class="digit-row">
        <div><canvas class="digit-pad" width="280" height="280" aria-label="draw a digit here"></canvas>
          <p><button type="button" class="digit-clear">Clear</button>
             <button type="button" class="digit-example">A test digit</button></p></div>
        <div><p class="digit-answer">${PROMPT}</p>
          <div class="digit-bars"></div></div>
      </div>
      <div class="digit-maps"></div>`;
    const pad = container.querySelector(".digit-pad");
    const context = pad.getContext("2d");
    let drawing = false;
    const at = (event) => {
      const box = pad.getBoundingClientRect();
      return [(event.clientX - box.left) * pad.width / box.width,
              (event.clientY - box.top) * pad.height / box.height];
    };
    const strokeTo = (event) => {
      context.lineWidth = 22;
      context.lineCap = context.lineJoin = "round";
      context.strokeStyle = getComputedStyle(container).color;
      context.lineTo(...at(event));
      context.stroke();
    };
    pad.addEventListener("pointerdown", (event) => {
      drawing = true;
      pad.setPointerCapture(event.pointerId);
      context.beginPath();
      context.moveTo(...at(event));
      strokeTo(event);  // a tap leaves a dot
    });
    pad.addEventListener("pointermove", (event) => {
      if (drawing) strokeTo(event);
    });
    pad.addEventListener("pointercancel", () => { drawing = false; });
    pad.addEventListener("pointerup", () => {
      drawing = false;
      const pixels = digitPixels(pad);
      if (pixels) show(classify8x8(pixels), container);
      else reset(container);
    });
    container.querySelector(".digit-clear").addEventListener("click", () => {
      context.clearRect(0, 0, pad.width, pad.height);
      reset(container);
    });
    let example = 0;
    container.querySelector(".digit-example").addEventListener("click", () => {
      const input = weights.examples[example];
      paint(pad, input.map((v) => v * weights.std + weights.mean), weights.inputSize[1]);
      const result = forward(input, weights.layers, weights.inputSize);
      show(result, container);
      container.querySelector(".digit-answer").textContent +=
        ` (a test digit ${weights.exampleLabels[example]}, drawn by a person)`;
      example = (example + 1) % weights.examples.length;
    });
  }

  window.deepnotes = window.deepnotes || {};
  window.deepnotes.digit = { forward, upsample, prepare, classify8x8, digitPixels };

  window.deepnotes.explorer.mountEach("digit", build);  // assets/explorer.js
})();
