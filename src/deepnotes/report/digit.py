"""The trained LeNet, exported for draw-a-digit: its layers as a script the page loads.

The `lenet-digits` experiment trains the ReLU LeNet on scikit-learn's 8×8 digits, upsampled
to 28×28. `export_lenet(OUT)` reads that run (`OUT/lenet-digits/lenet5_relu`, its weights
checked against their SHA-256 by `load_trained`) and writes `OUT/assets/lenet-weights.js`:
every layer in order (convolutions and dense layers with their weights, activations,
pooling, flatten), the standardisation the network was trained with, and one test digit of
each class. `assets/draw-digit.js` runs the same forward pass in JavaScript, in float64;
the browser test checks its outputs equal PyTorch's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deepnotes.io import write_atomic

RUN = Path("lenet-digits") / "lenet5_relu"  # the run `lenet-digits` trains, in the report


def numbers(tensor: torch.Tensor) -> list[float]:
    """A float32 tensor's values, flattened, each written with the 9 significant digits that
    give back the same float32."""
    return [float(f"{value:.9g}") for value in tensor.detach().flatten().tolist()]


def layer_spec(layer: nn.Module) -> dict[str, Any]:
    """One layer as the page's forward pass reads it; a layer it cannot run raises."""
    if isinstance(layer, nn.Conv2d):
        if layer.stride != (1, 1) or layer.dilation != (1, 1) or layer.groups != 1:
            raise ValueError(f"draw-a-digit runs stride-1 undilated convolutions only: {layer}")
        return {
            "type": "conv2d",
            "inChannels": layer.in_channels,
            "outChannels": layer.out_channels,
            "kernel": layer.kernel_size[0],
            "padding": layer.padding[0],
            "weight": numbers(layer.weight),  # (out, in, k, k), row-major
            "bias": numbers(layer.bias),
        }
    if isinstance(layer, nn.Linear):
        return {
            "type": "linear",
            "inFeatures": layer.in_features,
            "outFeatures": layer.out_features,
            "weight": numbers(layer.weight),  # (out, in), row-major
            "bias": numbers(layer.bias),
        }
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "maxpool" if isinstance(layer, nn.MaxPool2d) else "avgpool"
        return {"type": kind, "kernel": layer.kernel_size, "stride": layer.stride}
    for module, kind in ((nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid"), (nn.Flatten, "flatten")):
        if isinstance(layer, module):
            return {"type": kind}
    raise ValueError(f"draw-a-digit cannot run a {type(layer).__name__}")


def lenet_export(run_dir: Path) -> dict[str, Any]:
    """The trained LeNet of `run_dir`, its input standardisation and example digits."""
    from deepnotes.train.runs import load_trained

    model, _, bundle, _ = load_trained(run_dir)
    x_test, y_test = bundle.splits["test"].tensors
    examples = [int((y_test == label).nonzero()[0]) for label in range(10)]
    normalized = bundle.info.get("normalized", False)
    return {
        "layers": [layer_spec(layer) for layer in (*model.features, *model.classifier)],
        "inputSize": list(bundle.input_size),  # (1, 28, 28)
        "mean": bundle.info["mean"][0] if normalized else 0.0,
        "std": bundle.info["std"][0] if normalized else 1.0,
        "examples": [numbers(x_test[i, 0]) for i in examples],  # (28·28) standardised pixels
        "exampleLabels": [int(y_test[i]) for i in examples],
    }


def export_lenet(out: Path) -> bool:
    """Write `out/assets/lenet-weights.js` from the report's LeNet run; False without one."""
    run_dir = out / RUN
    if not (run_dir / "summary.json").is_file():
        return False
    script = (
        "window.deepnotes = window.deepnotes || {};\n"
        f"window.deepnotes.lenetWeights = {json.dumps(lenet_export(run_dir))};\n"
    )
    write_atomic(out / "assets" / "lenet-weights.js", script.encode())
    return True
