"""A model's summary: each layer's output shape, parameters and multiply-adds.

Counted from the notes' formulas (`deepnotes.arith`), not by timing or tracing
operators, so the numbers can be read and checked by hand:

    conv:        params = c_in·c_out·k²/groups (+ c_out)
                 MACs   = c_in·c_out·k²/groups × output pixels
    transposed:  the same params; MACs = c_in·c_out·k²/groups × *input* pixels
                 (each input pixel scatters one k×k block; counting output pixels
                 would count the products with the recipe's inserted zeros)
    linear:      params = n_in·n_out (+ n_out);  MACs = n_in·n_out × positions
    attention:   MACs = E² per query (Q, output) + E·(kdim + vdim) per key + 2E per pair
    recurrent:   MACs = gates·H·(input + H) per step, layer and direction (a cell: one step)

Other layers (activations, pooling, normalisation) do no weight multiply-adds
and count 0. The receptive field is followed along the order in which the
convolutions and poolings run, which is exact for a chain of layers (LeNet,
VGG) and follows the main path of a network with branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from deepnotes import arith
from deepnotes.nn.attention import ScaledDotProductAttention


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: list[int]
    params: int
    macs: int
    receptive_field: int | None = None


@dataclass
class Summary:
    input_size: list[int]
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "input_size": self.input_size,
            "layers": [asdict(r) for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
        }

    def table(self) -> str:
        """The summary as a fixed-width text table."""
        header = (
            f"{'layer':<28} {'type':<18} {'output shape':<20} {'params':>12} {'MACs':>14} {'RF':>5}"
        )
        lines = [header, "-" * len(header)]
        for r in self.rows:
            shape = "×".join(str(s) for s in r.output_shape)
            rf = "" if r.receptive_field is None else str(r.receptive_field)
            lines.append(
                f"{r.name:<28} {r.kind:<18} {shape:<20} {r.params:>12,} {r.macs:>14,} {rf:>5}"
            )
        lines.append("-" * len(header))
        lines.append(f"total params {self.total_params:,} (trainable {self.trainable_params:,})")
        lines.append(f"total multiply-adds {self.total_macs:,} ({self.total_macs / 1e9:.3f} GMACs)")
        return "\n".join(lines)


def layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-adds of one call of `module` on a batch of one, by the notes' formulas."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return arith.transposed_conv_macs(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            tuple(inputs[0].shape[2:]),
            module.groups,
        )
    if isinstance(module, nn.modules.conv._ConvNd):
        return arith.conv_macs(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            tuple(output.shape[2:]),
            module.groups,
        )
    if isinstance(getattr(module, "in_features", None), int):  # torch's Linear, ours, a tied one
        positions = output.numel() // module.out_features
        return arith.linear_macs(module.in_features, module.out_features, positions)
    if isinstance(module, ScaledDotProductAttention):  # Q Kᵀ and A V: d per (query, key), each
        query, key = inputs[:2]  # (…, L, d), (…, S, d): one example's heads
        return 2 * query.numel() * key.shape[-2]
    if isinstance(module, nn.MultiheadAttention) or type(module).__name__ == "MultiheadAttention":
        return attention_macs(module, *inputs[:3])
    if hasattr(module, "mode") and hasattr(module, "hidden_size"):  # RNN, LSTM, GRU
        return recurrent_macs(module, inputs[0])
    if hasattr(module, "weight_ih") and hasattr(module, "weight_hh"):  # one step of a cell
        rows = inputs[0].shape[0] if inputs[0].dim() > 1 else 1
        return (module.weight_ih.numel() + module.weight_hh.numel()) * rows
    return 0


def attention_macs(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value) -> int:
    """Projections E·E per query (Q and the output), E·kdim and E·vdim per key, and the two
    products Q Kᵀ and A V, E per (query, key) pair each."""
    embed = module.embed_dim
    queries, keys = query.numel() // embed, key.numel() // module.kdim
    attended = keys + (module.bias_k is not None) + bool(module.add_zero_attn)
    projections = 2 * embed * embed * queries + embed * (module.kdim + module.vdim) * keys
    return projections + 2 * embed * queries * attended


def recurrent_macs(module: nn.Module, sequence: torch.Tensor) -> int:
    """gates·H·(input + H) per step, layer and direction (LSTM 4 gates, GRU 3, RNN 1)."""
    gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    if isinstance(sequence, PackedSequence):
        sequence = sequence.data  # (ΣL, input)
    steps = sequence.numel() // module.input_size  # one sequence: its length
    directions = 2 if module.bidirectional else 1
    hidden, total = module.hidden_size, 0
    for layer in range(module.num_layers):
        width = module.input_size if layer == 0 else directions * hidden
        total += directions * gates * hidden * (width + hidden) * steps
    return total


def rf_layer(module: nn.Module) -> arith.Layer | None:
    """The receptive-field step of a conv or pooling layer (first spatial dimension)."""

    def first(value: int | tuple) -> int:
        return value[0] if isinstance(value, tuple) else value

    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        kernel, dilation = first(module.kernel_size), first(module.dilation)
        padding = module.padding
        if isinstance(padding, str):  # "valid" pads nothing, "same" pads half the field
            padding = 0 if padding == "valid" else dilation * (kernel - 1) // 2
        return arith.Layer(kernel, first(module.stride), first(padding), dilation)
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        stride = first(module.stride) or first(module.kernel_size)
        dilation = first(getattr(module, "dilation", 1))
        return arith.Layer(first(module.kernel_size), stride, first(module.padding), dilation)
    return None


def summarize(
    model: nn.Module, input_size: tuple[int, ...], inputs: Sequence[torch.Tensor] | None = None
) -> Summary:
    """Run one example through `model` and count every layer: `inputs`, the model's arguments
    for one example (a model whose input is not one float tensor: ids, frames and their
    lengths, a graph), or else zeros of `input_size`."""
    summary = Summary(input_size=list(input_size))
    rf_stack: list[arith.Layer] = []
    seen: set[int] = set()  # parameters already counted (a module called twice, shared ones)

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output) -> None:
            out = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(out, PackedSequence):  # (ΣL, features): the steps of every sequence
                out = out.data
            # attention owns its output projection, which torch's never calls as a module
            recurse = type(module).__name__ == "MultiheadAttention"
            fresh = [p for p in module.parameters(recurse=recurse) if id(p) not in seen]
            seen.update(id(p) for p in fresh)
            params = sum(p.numel() for p in fresh)
            step = rf_layer(module)
            if step is not None:
                rf_stack.append(step)
            rf = arith.receptive_field(rf_stack)[-1].size if rf_stack else None
            summary.rows.append(
                LayerRow(
                    name,
                    type(module).__name__,
                    list(out.shape[1:]),
                    params,
                    layer_macs(module, inputs, out),
                    rf,
                )
            )

        return record

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if name and (not list(module.children()) or list(module.parameters(recurse=False)))
    ]
    was_training = model.training
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # torch's fused layers would skip the hooks
    try:
        model.eval()
        device = next(model.parameters(), torch.empty(0)).device
        if inputs is None:
            inputs = (torch.zeros(1, *input_size),)
        with torch.no_grad():
            model(*(x.to(device) for x in inputs))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
        torch.backends.mha.set_fastpath_enabled(fast_path)
    summary.total_params = sum(p.numel() for p in model.parameters())
    summary.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return summary
