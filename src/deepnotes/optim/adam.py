"""Adam and AdamW: momentum and RMSprop together, with the averages bias-corrected.

Adam keeps two exponential moving averages per weight, of the gradient (first
moment, momentum's job) and of its square (second moment, RMSprop's job), and
steps by their ratio. With learning rate γ, decay rates β₁, β₂, weight decay λ:

    g_t ← g_t + λ θ_{t−1}                         (Adam: L2 penalty in the gradient)
    θ_{t−1} ← θ_{t−1} − γ λ θ_{t−1}               (AdamW: decay the weight itself)
    m_t = β₁ m_{t−1} + (1 − β₁) g_t
    v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    m̂_t = m_t / (1 − β₁ᵗ),   v̂_t = v_t / (1 − β₂ᵗ)    (bias correction)
    θ_t = θ_{t−1} − γ m̂_t / (√v̂_t + ε)

Because m_0 = v_0 = 0, the raw averages are biased towards zero early on; the
averages' weights sum to 1 − βᵗ, and dividing by it removes the bias, so even
the first step has size ≈ γ (Kingma & Ba, "Adam: A Method for Stochastic
Optimization", ICLR 2015). AMSGrad divides by the running maximum of v̂
instead, so the effective rate never grows (Reddi, Kale & Kumar, "On the
Convergence of Adam and Beyond", ICLR 2018).

L2 decay added to the gradient is itself divided by √v̂, so weights with large
gradients are barely regularised. AdamW decouples the decay from the adaptive
step (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019);
it is Adam with one flag, `decoupled_weight_decay=True`, as in torch.optim.

Shape: parameters of any shape; `exp_avg`, `exp_avg_sq` and `max_exp_avg_sq`
have the parameter's shape; `step` is a 0-d tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from deepnotes.optim.optimizer import Optimizer, ParamsT, check_hyperparameter, step_counter


def bias_correction(beta: float, t: float) -> float:
    """1 − βᵗ: the total weight (1 − β)(1 + β + … + βᵗ⁻¹) of an average of t values that
    started at 0. Dividing the average by it gives the unbiased m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)."""
    return 1 - beta**t


class Adam(Optimizer):
    r"""Adam: bias-corrected first moment over the root of the bias-corrected second.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \gamma \, \frac{m_t / (1-\beta_1^t)}
            {\sqrt{v_t / (1-\beta_2^t)} + \epsilon}

    Notes:
        ε sits outside the square root and after the bias correction of v. The
        step count t is per parameter and kept as a 0-d float tensor, as torch ≥ 2.0
        does. With ``weight_decay`` the penalty λθ joins the gradient (L2), unless
        ``decoupled_weight_decay`` is set, which is :class:`AdamW`.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate γ. Default: 1e-3.
        betas: decay rates (β₁, β₂) of the two averages. Default: (0.9, 0.999).
        eps: ε added to the denominator. Default: 1e-8.
        weight_decay: decay λ. Default: 0.
        amsgrad: divide by the running maximum of v (AMSGrad). Default: False.
        maximize: ascend the objective instead. Default: False.
        decoupled_weight_decay: decay θ directly, θ ← θ − γλθ (AdamW). Default: False.
        foreach, capturable, differentiable, fused: torch.optim's implementation
            flags, kept for state-dict compatibility.

    Shape:
        - exp_avg, exp_avg_sq, max_exp_avg_sq: the parameter's shape.
        - step: 0-d.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_hyperparameter("learning rate", lr)
        check_hyperparameter("epsilon value", eps)
        check_hyperparameter("beta parameter at index 0", betas[0], upper=1.0)
        check_hyperparameter("beta parameter at index 1", betas[1], upper=1.0)
        check_hyperparameter("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        state = self.state[param]
        if not state:
            state["step"] = step_counter()
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(param)
        lr, weight_decay, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        state["step"] += 1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)  # θ ← θ − γλθ
            else:
                grad = grad.add(param, alpha=weight_decay)  # g ← g + λθ
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)  # m = β₁m + (1−β₁)g
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = β₂v + (1−β₂)g²
        if group["amsgrad"]:
            torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            exp_avg_sq = state["max_exp_avg_sq"]  # v ← max(v_1, …, v_t)
        t = state["step"].item()
        bias_correction1 = bias_correction(beta1, t)
        bias_correction2 = bias_correction(beta2, t)
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(group["eps"])  # √v̂ + ε
        param.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)  # θ ← θ − γ m̂/(√v̂ + ε)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: the weights shrink by γλ before the Adam step.

    .. math::
        \theta \leftarrow \theta - \gamma \lambda \theta, \qquad
        \theta_t = \theta - \gamma \, \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    Notes:
        The decay is not divided by √v̂, so every weight decays at the same rate
        γλ per step: for SGD the two forms of decay coincide, for Adam they do not
        (Loshchilov & Hutter 2019). Since the decay is multiplied by γ, a learning
        rate schedule schedules the decay too.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate γ. Default: 1e-3.
        betas: decay rates (β₁, β₂) of the two averages. Default: (0.9, 0.999).
        eps: ε added to the denominator. Default: 1e-8.
        weight_decay: decoupled decay λ. Default: 1e-2.
        amsgrad: divide by the running maximum of v (AMSGrad). Default: False.
        maximize: ascend the objective instead. Default: False.
        foreach, capturable, differentiable, fused: torch.optim's implementation
            flags, kept for state-dict compatibility.

    Shape:
        - exp_avg, exp_avg_sq, max_exp_avg_sq: the parameter's shape.
        - step: 0-d.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
