"""Settings of a convolution and the answers of `deepnotes.arith` for them: what the book's
convolution-arithmetic explorer (`report/assets/conv-explorer.js`) must answer too."""

from __future__ import annotations

import itertools

from deepnotes.arith import output_shape
from deepnotes.errors import UserError

# Each setting's values, the invalid ones (0, −1) included; the test tries every combination,
# 6·5·4·5·4·2·4 = 19200 settings, in itertools.product's order (the last axis fastest).
CONV_AXES = {
    "input": (0, 1, 2, 3, 5, 8),
    "kernel": (0, 1, 2, 3, 5),
    "stride": (0, 1, 2, 3),
    "padding": (-1, 0, 1, 2, 3),
    "dilation": (0, 1, 2, 3),
    "transposed": (False, True),
    "outputPadding": (-1, 0, 1, 2),
}
CONV_SETTINGS = [
    dict(zip(CONV_AXES, values, strict=True)) for values in itertools.product(*CONV_AXES.values())
]


def arith_answer(setting: dict) -> tuple[int | None, str | None]:
    """(output size, None) from deepnotes.arith, or (None, its error message)."""
    kind = "transposed" if setting["transposed"] else "conv"
    try:
        (size,) = output_shape(
            kind,
            (setting["input"],),
            setting["kernel"],
            setting["stride"],
            setting["padding"],
            setting["dilation"],
            setting["outputPadding"],
        )
    except UserError as error:
        return None, str(error).removeprefix("dimension 0: ")
    return size, None
