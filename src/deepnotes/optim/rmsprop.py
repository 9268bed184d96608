"""RMSprop: divide each gradient by a running root-mean-square of its recent values.

One learning rate rarely suits every weight: gradients differ in scale by orders
of magnitude across layers and over training. RMSprop keeps, per weight, an
exponential moving average of the squared gradient and steps by the gradient
over its root, so every weight moves by about γ whatever its gradient's scale.
With smoothing α, learning rate γ, weight decay λ, momentum μ:

    g_t ← g_t + λ θ_{t−1}
    v_t = α v_{t−1} + (1 − α) g_t²                 (mean square, v_0 = 0)
    ṽ_t = v_t − m_t²,  m_t = α m_{t−1} + (1 − α) g_t     (centered; else ṽ_t = v_t)
    d_t = g_t / (√ṽ_t + ε)
    b_t = μ b_{t−1} + d_t,   θ_t = θ_{t−1} − γ b_t       (μ > 0)
    θ_t = θ_{t−1} − γ d_t                                 (μ = 0)

Hinton, Neural Networks for Machine Learning, lecture 6e (2012), which proposed
it unpublished; the centered form, which normalises by the gradient's variance
rather than its second moment, is from Graves, "Generating Sequences With
Recurrent Neural Networks", 2013.

Shape: parameters of any shape; `square_avg`, `grad_avg` and `momentum_buffer`
have the parameter's shape; `step` is a 0-d tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from deepnotes.optim.optimizer import Optimizer, ParamsT, check_hyperparameter, step_counter


class RMSprop(Optimizer):
    r"""RMSprop: gradient over the root of its running mean square, optionally centered.

    .. math::
        v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \qquad
        \theta_t = \theta_{t-1} - \gamma \, \frac{g_t}{\sqrt{v_t} + \epsilon}

    Notes:
        ε is added *after* the square root (TensorFlow adds it inside). There is no
        bias correction: v starts at 0, so the first steps are large, the very first
        being γ·g/(√(1 − α)·|g|) = ±10γ at α = 0.99. Centered RMSprop subtracts the squared
        running mean m_t² of the gradient, dividing by an estimate of its standard
        deviation. The momentum buffer accumulates normalised steps d_t, not raw
        gradients.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate γ. Default: 1e-2.
        alpha: smoothing constant α of the averages. Default: 0.99.
        eps: ε added to the denominator. Default: 1e-8.
        weight_decay: L2 penalty λ. Default: 0.
        momentum: momentum factor μ. Default: 0.
        centered: normalise by the variance rather than the mean square. Default: False.
        maximize: ascend the objective instead. Default: False.
        capturable, foreach, differentiable: torch.optim's implementation flags, kept
            for state-dict compatibility.

    Shape:
        - square_avg, grad_avg, momentum_buffer: the parameter's shape.
        - step: 0-d.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("epsilon value", eps)
        check_hyperparameter("momentum value", momentum)
        check_hyperparameter("weight_decay value", weight_decay)
        check_hyperparameter("alpha value", alpha)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        state = self.state[param]
        if not state:
            state["step"] = step_counter()
            state["square_avg"] = torch.zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(param)
        alpha = group["alpha"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])  # g ← g + λθ
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # v = αv + (1−α)g²
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)  # m = αm + (1−α)g
            denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()  # √(v − m²)
        else:
            denom = square_avg.sqrt()
        denom.add_(group["eps"])
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(group["momentum"]).addcdiv_(grad, denom)  # b = μb + g/(√ṽ + ε)
            param.add_(buf, alpha=-group["lr"])
        else:
            param.addcdiv_(grad, denom, value=-group["lr"])  # θ ← θ − γ g/(√ṽ + ε)
