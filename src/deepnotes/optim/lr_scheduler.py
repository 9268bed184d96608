"""Learning-rate schedules: the learning rate as a function of the step count.

A constant rate is a compromise: large early to cover ground, it keeps the
weights rattling around a minimum late, where a small rate would settle. A
schedule sets each parameter group's rate from its starting value η₀ and the
number t of `step()` calls so far (torch's `last_epoch`, counted in epochs or in
batches, whichever the caller steps on):

    StepLR             η_t = η₀ γ^⌊t / s⌋                          (He et al. 2016)
    MultiStepLR        η_t = η₀ γ^(number of milestones ≤ t)
    LinearLR           η_t = η₀ (f₀ + (f₁ − f₀) min(t, T)/T)      (warm-up: Goyal et al. 2017)
    CosineAnnealingLR  η_t = η_min + (η₀ − η_min)(1 + cos(π t/T))/2   (Loshchilov & Hutter 2017)
    OneCycleLR         up from η_max/25 to η_max, then cosine down to η_max/25/10⁴,
                       momentum cycled the other way               (Smith & Topin 2017)
    SequentialLR       one schedule after another, e.g. warm-up then cosine

Each schedule here is written in closed form, η_t = f(t), which is what the
formula says. torch.optim writes most of them recursively, η_t = η_{t−1} · r_t,
so that schedulers on one optimiser multiply together (its ChainedScheduler);
the two forms agree to float rounding (≈1e-15), but these do not chain —
run them one after another with SequentialLR.

Usage, as torch: build the scheduler after the optimiser (it sets the groups'
`lr` to η₀), call `scheduler.step()` after each `optimizer.step()`. It works on
any optimiser with `param_groups`: deepnotes' or torch.optim's.

Shape: no tensors; learning rates and momenta are Python floats, one per group.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch

from deepnotes.optim.optimizer import Optimizer

OptimizerLike = Optimizer | torch.optim.Optimizer


def per_group(name: str, optimizer: OptimizerLike, value: float | Sequence[float]) -> list[float]:
    """One value per parameter group: a list is checked for length, a scalar repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, "
                f"param_groups has {len(optimizer.param_groups)}."
            )
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    r"""Base class: sets each group's ``lr`` to :meth:`get_lr` at the current step count.

    Subclasses implement :meth:`get_lr`, the rates at :attr:`last_epoch` from
    :attr:`base_lrs` (each group's ``initial_lr``, recorded in the group on first
    use so that later schedulers and checkpoints see the same η₀).

    Notes:
        Construction already performs step 0: it sets ``last_epoch`` to 0 and the
        rates to η_0. :meth:`state_dict` holds every attribute but the optimiser,
        under torch's names, so states load across this package and torch.optim;
        it does not hold the optimiser's rates, which its own state dict restores.

    Args:
        optimizer: the optimiser whose groups' ``lr`` to set.
        last_epoch: the step count already done; -1 starts a new schedule. A value
            ≥ 0 resumes and needs ``initial_lr`` in every group. Default: -1.
    """

    def __init__(self, optimizer: OptimizerLike, last_epoch: int = -1) -> None:
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] "
                    "when resuming scheduler with last_epoch >= 0"
                )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at step :attr:`last_epoch`."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates the last step set, one per group."""
        return self._last_lr

    def step(self) -> None:
        """Advance the schedule by one step (call it after ``optimizer.step()``)."""
        self.set_epoch(self.last_epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Jump to step `epoch` and set the optimiser's rates for it."""
        self.last_epoch = epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr: list[float] = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimiser (torch's layout)."""
        return {key: value for key, value in vars(self).items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes this class has; torch's bookkeeping flags are ignored."""
        vars(self).update({key: v for key, v in state_dict.items() if key in vars(self)})

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{key}={value}" for key, value in self.state_dict().items() if key[0] != "_"
        )
        return f"{type(self).__name__}({settings})"


class StepLR(LRScheduler):
    r"""Multiply the rate by γ every ``step_size`` steps.

    .. math::
        \eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    Notes:
        The classic schedule of ResNet training (He et al., "Deep Residual Learning
        for Image Recognition", CVPR 2016): ÷10 whenever the error plateaus.

    Args:
        optimizer: the optimiser to schedule.
        step_size: period s of the decay, in steps.
        gamma: factor γ per period. Default: 0.1.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self, optimizer: OptimizerLike, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Multiply the rate by γ at each milestone.

    .. math::
        \eta_t = \eta_0 \, \gamma^{\#\{m \in \text{milestones} : m \le t\}}

    Notes:
        A milestone listed twice decays twice. Milestones are kept as a
        :class:`collections.Counter`, as torch keeps them.

    Args:
        optimizer: the optimiser to schedule.
        milestones: the steps at which to decay, increasing.
        gamma: factor γ per milestone. Default: 0.1.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma**passed for base in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scale the rate by a factor that moves linearly from ``start_factor`` to ``end_factor``.

    .. math::
        \eta_t = \eta_0 \left(f_0 + (f_1 - f_0) \, \frac{\min(t, T)}{T}\right)

    Notes:
        With f₀ small and f₁ = 1 this is learning-rate warm-up: Adam's early
        second-moment estimates and large-batch SGD are both unstable at full rate
        (Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
        2017). After T steps the factor stays at f₁.

    Args:
        optimizer: the optimiser to schedule.
        start_factor: f₀, in (0, 1]. Default: 1/3.
        end_factor: f₁, in [0, 1]. Default: 1.0.
        total_iters: steps T to go from f₀ to f₁. Default: 5.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 "
                "and less or equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * progress
        return [base * factor for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Anneal the rate from η₀ to ``eta_min`` along half a cosine over ``T_max`` steps.

    .. math::
        \eta_t = \eta_{\min} + \tfrac{1}{2} (\eta_0 - \eta_{\min})
            \left(1 + \cos\left(\pi \, t / T_{\max}\right)\right)

    Notes:
        From SGDR (Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017) without the restarts: the rate falls slowly at first,
        fastest midway, and flattens as it reaches η_min at t = T_max. Past T_max the
        cosine rises again (period 2 T_max), as torch's does. torch computes it
        recursively, η_t = η_min + (η_{t−1} − η_min)(1 + cos(πt/T))/(1 + cos(π(t−1)/T));
        the closed form here equals it to float rounding.

    Args:
        optimizer: the optimiser to schedule.
        T_max: steps T_max of the half cosine.
        eta_min: the final rate η_min. Default: 0.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self, optimizer: OptimizerLike, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)  # from 2 down to 0
        return [self.eta_min + (base - self.eta_min) * cosine / 2 for base in self.base_lrs]


def annealing_cos(start: float, end: float, pct: float) -> float:
    """From `start` to `end` along half a cosine as `pct` goes from 0 to 1."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def annealing_linear(start: float, end: float, pct: float) -> float:
    """From `start` to `end` along a straight line as `pct` goes from 0 to 1."""
    return (end - start) * pct + start


ANNEALING = {"cos": annealing_cos, "linear": annealing_linear}


def phase(
    end_step: float, start_lr: str, end_lr: str, start_momentum: str, end_momentum: str
) -> dict[str, Any]:
    """One phase of the 1cycle policy, in torch's layout (values name keys of the group)."""
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_momentum,
        "end_momentum": end_momentum,
    }


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy: rate up to ``max_lr`` and far down, momentum down and back up.

    .. math::
        \eta_t = \begin{cases}
            \mathrm{anneal}(\eta_{\max}/d,\ \eta_{\max},\ t / t_1) & t \le t_1 \\
            \mathrm{anneal}(\eta_{\max},\ \eta_{\max}/(d\,d_f),\ (t - t_1)/(T - 1 - t_1))
                & t > t_1
        \end{cases}

    with :math:`t_1 = p T - 1` (``pct_start`` p, ``total_steps`` T, ``div_factor``
    d, ``final_div_factor`` d_f) and anneal the cosine (or linear) interpolation
    :func:`annealing_cos`. Momentum (β₁ for Adam) runs the same path from
    ``max_momentum`` to ``base_momentum`` and back.

    Notes:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using
        Large Learning Rates", 2017; the large rate in the middle acts as a
        regulariser, and lowering momentum while the rate is high keeps the
        effective step γ/(1 − μ) in check (Smith, "A disciplined approach to neural
        network hyper-parameters", 2018). The two-phase default follows fastai;
        ``three_phase=True`` is the paper's symmetric up-down plus a final
        annihilation phase. The phase boundaries and per-group bounds
        (``initial_lr``, ``max_lr``, ``min_lr``, ``max_momentum``, ``base_momentum``)
        are stored in the groups, as torch does. Stepping beyond ``total_steps``
        is an error.

    Args:
        optimizer: the optimiser to schedule.
        max_lr: the peak rate, one for all groups or one per group.
        total_steps: steps T in the cycle; or give ``epochs`` and ``steps_per_epoch``.
        epochs, steps_per_epoch: T = epochs × steps_per_epoch when ``total_steps`` is None.
        pct_start: fraction p of the cycle spent increasing the rate. Default: 0.3.
        anneal_strategy: "cos" or "linear". Default: "cos".
        cycle_momentum: cycle momentum (or β₁) inversely to the rate. Default: True.
        base_momentum: momentum at the peak rate. Default: 0.85.
        max_momentum: momentum at the start and end. Default: 0.95.
        div_factor: d, with initial rate max_lr / d. Default: 25.
        final_div_factor: d_f, with final rate max_lr / (d d_f). Default: 1e4.
        three_phase: use the paper's three phases. Default: False.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(
                    f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
                )
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ANNEALING:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy
        self._schedule_phases = self.phases(self.total_steps, pct_start, three_phase)

        if last_epoch == -1:
            for group, peak in zip(
                optimizer.param_groups, per_group("max_lr", optimizer, max_lr), strict=True
            ):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for group, high, low in zip(
                    optimizer.param_groups,
                    per_group("max_momentum", optimizer, max_momentum),
                    per_group("base_momentum", optimizer, base_momentum),
                    strict=True,
                ):
                    group["max_momentum"] = high
                    group["base_momentum"] = low
                    self._set_momentum(group, high)
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
        """Each phase: its last step, and the group keys its rate and momentum run between."""
        up_end = float(pct_start * total_steps) - 1
        if three_phase:
            return [
                phase(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                phase(2 * up_end, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                phase(total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [
            phase(up_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            phase(total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]

    def _interpolate(self, group: dict[str, Any], quantity: str) -> float:
        """`quantity` ("lr" or "momentum") at the current step, annealed within its phase."""
        phases, k = self._schedule_phases, 0
        while k < len(phases) - 1 and self.last_epoch > phases[k]["end_step"]:
            k += 1
        start_step = phases[k - 1]["end_step"] if k > 0 else 0.0
        pct = (self.last_epoch - start_step) / (phases[k]["end_step"] - start_step)
        start = group[phases[k][f"start_{quantity}"]]
        end = group[phases[k][f"end_{quantity}"]]
        return ANNEALING[self._anneal_func_type](start, end, pct)

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_steps:
            raise ValueError(
                f"Tried to step {self.last_epoch} times. "
                f"The specified number of total steps is {self.total_steps}"
            )
        return [self._interpolate(group, "lr") for group in self.optimizer.param_groups]

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if self.cycle_momentum:
            for group in self.optimizer.param_groups:
                self._set_momentum(group, self._interpolate(group, "momentum"))

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])  # β₁ plays momentum's part
        else:
            group["momentum"] = momentum


class SequentialLR(LRScheduler):
    r"""Run schedulers one after another, switching at the milestones.

    .. math::
        \eta_t = f_k(t - m_k) \quad \text{for } m_k \le t < m_{k+1}, \quad m_0 = 0

    Notes:
        Each scheduler restarts its own count at its milestone, so a warm-up of W
        steps followed by ``CosineAnnealingLR(T_max=N − W)`` anneals over the rest
        of an N-step run. All schedulers must share the optimiser; build them all
        first (each sets the rates on construction), then wrap them. The state dict
        nests theirs under ``"_schedulers"``, as torch's does.

    Args:
        optimizer: the optimiser the schedulers share.
        schedulers: the schedulers in order.
        milestones: the steps m₁ < m₂ < … at which the next one takes over.
        last_epoch: steps already done; -1 starts anew. Default: -1.
    """

    def __init__(
        self,
        optimizer: OptimizerLike,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        name = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
        for i, scheduler in enumerate(schedulers):
            if scheduler.optimizer is not optimizer:
                raise ValueError(
                    f"{name} expects all schedulers to belong to the same optimizer, but got "
                    f"scheduler {type(scheduler).__name__} at index {i} with another optimizer."
                )
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than "
                f"the number of milestone points, but got number of schedulers {len(schedulers)} "
                f"and the number of milestones to be equal to {len(milestones)}"
            )
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch
        self.step()

    def set_epoch(self, epoch: int) -> None:
        self.last_epoch = epoch
        k = bisect_right(self._milestones, epoch)  # schedulers that have started, minus one
        start = self._milestones[k - 1] if k > 0 else 0
        self._schedulers[k].set_epoch(epoch - start)
        self._last_lr = self._schedulers[k].get_last_lr()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(schedulers={self._schedulers}, "
            f"milestones={self._milestones}, last_epoch={self.last_epoch})"
        )

    def state_dict(self) -> dict[str, Any]:
        state = {key: v for key, v in vars(self).items() if key not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        own = {key: value for key, value in state_dict.items() if key != "_schedulers"}
        super().load_state_dict(own)
        for scheduler, state in zip(self._schedulers, state_dict["_schedulers"], strict=True):
            scheduler.load_state_dict(state)
