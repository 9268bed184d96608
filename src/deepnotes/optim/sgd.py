"""Stochastic gradient descent, with momentum and Nesterov momentum.

On a mini-batch gradient g_t of the loss at θ_{t−1}, with learning rate γ,
weight decay λ, momentum μ and dampening τ:

    g_t ← g_t + λ θ_{t−1}                        (L2 weight decay)
    b_t = g_t                                     at t = 1
    b_t = μ b_{t−1} + (1 − τ) g_t                 at t > 1
    u_t = g_t + μ b_t   (Nesterov)   or   u_t = b_t
    θ_t = θ_{t−1} − γ u_t

With μ = 0 it is plain SGD, θ_t = θ_{t−1} − γ g_t (Robbins & Monro 1951). The
buffer b is a running sum of past gradients: along a direction where the
gradients agree it grows to ≈ g/(1 − μ), ten times the step at μ = 0.9, while
gradients that alternate in sign cancel — the heavy ball of Polyak (1964).
Nesterov's variant takes the gradient at the point momentum is about to carry
θ to; Sutskever, Martens, Dahl & Hinton, "On the importance of initialization
and momentum in deep learning", ICML 2013, showed both matter for deep nets;
the form g + μ b above is their look-ahead rewritten at the current θ
(Bengio, Boulanger-Lewandowski & Pascanu, "Advances in Optimizing Recurrent
Networks", 2013).

Shape: parameters of any shape; `momentum_buffer` has its parameter's shape.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from deepnotes.optim.optimizer import Optimizer, ParamsT, check_hyperparameter


def momentum_update(buf: Tensor, grad: Tensor, momentum: float, dampening: float) -> Tensor:
    """b ← μb + (1 − τ)g, in place, and b: the heavy ball's velocity, the decayed sum of the
    past gradients plus the new one (at t > 1; b₁ = g₁)."""
    return buf.mul_(momentum).add_(grad, alpha=1 - dampening)


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum and weight decay.

    .. math::
        b_t = \mu b_{t-1} + (1 - \tau) g_t, \qquad
        \theta_t = \theta_{t-1} - \gamma \, (g_t + \mu b_t \text{ if Nesterov else } b_t)

    with :math:`g_t` the gradient plus :math:`\lambda\theta_{t-1}` and :math:`b_1 = g_1`.

    Notes:
        The buffer starts as the first gradient itself, not dampened: torch's choice,
        which makes the first step equal plain SGD's. This form scales the buffer by γ
        at use, unlike Sutskever et al.'s v ← μv − γg; the two agree while γ is
        constant but differ when a schedule changes γ. Nesterov needs μ > 0 and τ = 0.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate γ. Default: 1e-3.
        momentum: momentum factor μ. Default: 0.
        dampening: dampening τ of the gradient added to the buffer. Default: 0.
        weight_decay: L2 penalty λ. Default: 0.
        nesterov: use Nesterov momentum. Default: False.
        maximize: ascend the objective instead. Default: False.
        foreach, differentiable, fused: torch.optim's implementation flags, kept for
            state-dict compatibility (see :mod:`deepnotes.optim.optimizer`).

    Shape:
        - momentum_buffer: the parameter's shape.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("momentum value", momentum)
        check_hyperparameter("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])  # g ← g + λθ
        if momentum != 0:
            state = self.state[param]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.clone()  # b_1 = g_1
            else:
                momentum_update(buf, grad, momentum, group["dampening"])
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        param.add_(grad, alpha=-group["lr"])  # θ ← θ − γu
