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

from deepnotes.errors import UserError
from deepnotes.io import write_atomic

RUN = Path("lenet-digits") / "lenet5_relu"  # the run `lenet-digits` trains, in the report


def numbers(tensor: torch.Tensor) -> list[float]:
    """A float32 tensor's values, flattened, each written with the 9 significant digits that
    give back the same float32."""
    return [float(f"{value:.9g}") for value in tensor.detach().flatten().tolist()]


def square(value: int | tuple[int, ...]) -> int:
    """A size given as an int or as equal (height, width); other sizes raise."""
    sides = (value, value) if isinstance(value, int) else tuple(value)
    if len(set(sides)) != 1 or not isinstance(sides[0], int):
        raise ValueError(f"draw-a-digit runs square windows only, not {value}")
    return sides[0]


def layer_spec(layer: nn.Module) -> dict[str, Any]:
    """One layer as the page's forward pass reads it; a layer, or a setting of one, that the
    page cannot run raises ValueError."""
    if isinstance(layer, nn.Conv2d):
        plain = square(layer.stride) == 1 and square(layer.dilation) == 1 and layer.groups == 1
        if not plain or layer.padding_mode != "zeros" or layer.bias is None:
            raise ValueError(f"draw-a-digit runs stride-1 undilated convolutions only: {layer}")
        return {
            "type": "conv2d",
            "inChannels": layer.in_channels,
            "outChannels": layer.out_channels,
            "kernel": square(layer.kernel_size),
            "padding": square(layer.padding),
            "weight": numbers(layer.weight),  # (out, in, k, k), row-major
            "bias": numbers(layer.bias),
        }
    if isinstance(layer, nn.Linear):
        if layer.bias is None:
            raise ValueError(f"draw-a-digit runs dense layers with a bias only: {layer}")
        return {
            "type": "linear",
            "inFeatures": layer.in_features,
            "outFeatures": layer.out_features,
            "weight": numbers(layer.weight),  # (out, in), row-major
            "bias": numbers(layer.bias),
        }
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        dilation = getattr(layer, "dilation", 1)
        if square(layer.padding) != 0 or layer.ceil_mode or square(dilation) != 1:
            raise ValueError(f"draw-a-digit runs unpadded pooling only: {layer}")
        kind = "maxpool" if isinstance(layer, nn.MaxPool2d) else "avgpool"
        return {"type": kind, "kernel": square(layer.kernel_size), "stride": square(layer.stride)}
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


def export_lenet(out: Path) -> str | None:
    """Write `out/assets/lenet-weights.js` from the report's LeNet run. Where the run cannot
    be exported (missing, its weights damaged, a layer the page cannot run), remove any
    earlier export and return why, in one line; None when it is written."""
    script_file = out / "assets" / "lenet-weights.js"
    run_dir = out / RUN
    try:
        exported = lenet_export(run_dir)
    except (UserError, ValueError, IndexError, OSError) as error:
        script_file.unlink(missing_ok=True)
        return f"the trained LeNet of {run_dir} could not be read: {error}"
    script = (
        "window.deepnotes = window.deepnotes || {};\n"
        f"window.deepnotes.lenetWeights = {json.dumps(exported)};\n"
    )
    write_atomic(script_file, script.encode())
    return None
