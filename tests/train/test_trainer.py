"""The trainer: exact resume, NaN stops, seeds, config precedence, run folders."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from deepnotes.data.base import load_data
from deepnotes.errors import TrainingDivergedError, UserError
from deepnotes.tasks.base import Task
from deepnotes.train import checkpoint
from deepnotes.train.config import TrainConfig, parse_model_args
from deepnotes.train.optimizers import make_optimizer, make_scheduler
from deepnotes.train.run import train
from deepnotes.train.runs import evaluate_run
from deepnotes.train.trainer import Checkpointer, Trainer, seed_everything


def config(**overrides) -> TrainConfig:
    settings = dict(
        model="mlp",
        data="digits",
        epochs=4,
        batch_size=64,
        lr=1e-2,
        optimizer="sgd",
        scheduler="cosine",
        progress=False,
        model_args={"hidden": [32], "dropout": 0.2},
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_resume_after_interruption_gives_identical_results(tmp_path):
    """Stop after 2 of 4 epochs, resume: the same weights and metrics as a run that never stopped.

    The MLP has dropout and momentum, and the schedule is cosine, so the RNG state, the
    optimiser state and the scheduler state must all be restored for this to hold.
    """
    straight = train(config(), tmp_path / "straight")

    class SimulatedKillError(Exception):
        pass

    from deepnotes.train import trainer as trainer_module

    original = trainer_module.Trainer.run_epoch

    def run_two_epochs(self):
        if self.state.epoch == 2:
            raise SimulatedKillError
        original(self)

    trainer_module.Trainer.run_epoch = run_two_epochs
    try:
        with pytest.raises(SimulatedKillError):
            train(config(), tmp_path / "resumed")
    finally:
        trainer_module.Trainer.run_epoch = original
    assert not (tmp_path / "resumed" / "summary.json").exists()
    resumed = train(config(), tmp_path / "resumed", resume=True)

    assert resumed["metrics"] == straight["metrics"]
    assert resumed["timing"]["steps"] == straight["timing"]["steps"]
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = (tmp_path / "resumed" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 4  # header + one row per epoch, none repeated


def test_resume_differs_without_restored_state(tmp_path):
    """The exactness above is not vacuous: a fresh run with another seed ends elsewhere."""
    a = train(config(), tmp_path / "a")
    b = train(config(seed=1), tmp_path / "b")
    assert a["metrics"]["test_loss"] != b["metrics"]["test_loss"]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from deepnotes.train import trainer as trainer_module

    original = trainer_module.Trainer.update

    def poisoned(self, loss, name="model"):
        if self.state.epoch == 1:
            loss = loss * float("nan")
        original(self, loss, name)

    trainer_module.Trainer.update = poisoned
    try:
        with pytest.raises(TrainingDivergedError, match="nan"):
            train(config(), tmp_path / "run")
    finally:
        trainer_module.Trainer.update = original
    model_state, state = checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in model_state.values())
    assert not (tmp_path / "run" / "summary.json").exists()


def test_seeds_report_mean_and_std(tmp_path):
    summary = train(config(epochs=2, seeds=3), tmp_path / "run")
    per_seed = [s["metrics"]["test_acc"] for s in summary["seeds"]]
    assert [s["seed"] for s in summary["seeds"]] == [0, 1, 2]
    assert len(set(per_seed)) > 1  # the seeds really differ
    mean = sum(per_seed) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in per_seed) / 2)
    assert summary["metrics"]["test_acc_mean"] == pytest.approx(mean, rel=1e-12)
    assert summary["metrics"]["test_acc_std"] == pytest.approx(std, rel=1e-12)
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["metrics"] == summary["metrics"]
    assert "weights_sha256" not in on_disk  # each seed's weights are in its own folder
    for seed in (0, 1, 2):
        assert (tmp_path / "run" / f"seed-{seed}" / "summary.json").exists()


def test_summary_contents(tmp_path):
    summary = train(config(epochs=1), tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_loss"):
        assert key in summary["metrics"]
    assert summary["params"] == 64 * 32 + 32 + 32 * 10 + 10
    assert summary["config"]["model_args"] == {"hidden": [32], "dropout": 0.2}
    assert {"torch", "python", "deepnotes"} <= set(summary["versions"])
    assert summary["timing"]["epochs"] == 1


def test_max_steps_overrides_epochs(tmp_path):
    summary = train(config(epochs=50, max_steps=7), tmp_path / "run")
    assert summary["timing"]["steps"] == 7


def test_refuses_to_overwrite_a_run(tmp_path):
    train(config(epochs=1), tmp_path / "run")
    with pytest.raises(UserError, match="already holds a run"):
        train(config(epochs=1), tmp_path / "run")
    with pytest.raises(UserError, match="nothing to resume"):
        train(config(epochs=1), tmp_path / "empty", resume=True)


def test_evaluate_run_matches_training_summary(tmp_path):
    summary = train(config(epochs=2), tmp_path / "run")
    result = evaluate_run(tmp_path / "run", "digits", split="test")
    assert result["metrics"]["test_acc"] == pytest.approx(summary["metrics"]["test_acc"])
    all_splits = evaluate_run(tmp_path / "run", "digits", split="all")
    assert all_splits["examples"] == 1797
    with pytest.raises(UserError, match="trained on"):
        evaluate_run(tmp_path / "run", "moons")  # 2 features, 2 classes: incompatible


def test_config_precedence(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('model = "mlp"\ndata = "digits"\nlr = 0.5\nbatch_size = 16\n')
    merged = TrainConfig.from_sources(
        {"batch_size": 8, "lr": None},
        model_defaults={"mlp": {"lr": 0.1, "epochs": 3}}.get,
        config_file=toml,
    )
    assert (merged.lr, merged.batch_size, merged.epochs) == (0.5, 8, 3)
    with pytest.raises(UserError, match="unknown training setting"):
        TrainConfig.from_sources({"model": "mlp", "data": "digits", "lrr": 1.0})
    with pytest.raises(UserError, match="positive"):
        TrainConfig.from_sources({"model": "mlp", "data": "digits", "epochs": 0})
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 1")
    with pytest.raises(UserError, match="not valid TOML"):
        TrainConfig.from_sources({}, config_file=bad)


def test_parse_model_args():
    assert parse_model_args(["hidden=[8, 4]", "activation=tanh", "dropout=0.5", "x=true"]) == {
        "hidden": [8, 4],
        "activation": "tanh",
        "dropout": 0.5,
        "x": True,
    }
    with pytest.raises(UserError):
        parse_model_args(["novalue"])


def test_model_args_reach_the_model(tmp_path):
    summary = train(config(epochs=1, model_args={"hidden": [5]}), tmp_path / "run")
    assert summary["params"] == 64 * 5 + 5 + 5 * 10 + 10
    with pytest.raises(UserError, match="cannot build"):
        train(config(epochs=1, model_args={"no_such_arg": 1}), tmp_path / "bad")


@pytest.mark.parametrize("scheduler", ["none", "step", "cosine", "onecycle", "warmup-cosine"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_and_schedule_trains_and_checkpoints(tmp_path, optimizer, scheduler):
    """Every optimiser/schedule pair learns, and its state is in the checkpoint."""
    cfg = config(
        epochs=3, optimizer=optimizer, scheduler=scheduler, lr=0.1 if optimizer == "sgd" else 3e-3
    )
    summary = train(cfg, tmp_path / "run")
    assert summary["metrics"]["test_acc"] > 0.5  # chance is 0.1
    _, state = checkpoint.load_checkpoint(tmp_path / "run" / "checkpoints")
    assert len(state["optimizers"]["model"]["state"]) == 4  # two weights, two biases
    assert ("model" in state["schedulers"]) == (scheduler != "none")


class TwoPlayerTask(Task):
    """A GAN-shaped task on 2-D points: two optimisers, stepped in the task's own order.

    The "discriminator" learns to tell real points from the "generator"'s samples; the
    generator learns to fool it (non-saturating loss). Enough to prove the loop serves a
    task with two players, per-group learning rates, and exact resume, unchanged.
    """

    name = "two-player"
    data_kinds = ("vectors",)

    def output_shape(self, examples):
        return (examples.batch, 1)  # the discriminator's logit

    def loss(self, model, batch):
        real, _ = batch
        d_real = model.discriminator(real)
        loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
        return loss, {"loss": loss.detach()}

    def optimizers(self, model):
        return {
            "discriminator": [{"params": model.discriminator.parameters(), "lr": 4e-3}],
            "generator": [{"params": model.generator.parameters(), "lr": 1e-3}],
        }

    def training_step(self, model, batch, update):
        real, _ = batch
        noise = torch.randn(len(real), 4)
        fake = model.generator(noise)
        d_real, d_fake = model.discriminator(real), model.discriminator(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(
            d_real, torch.ones_like(d_real)
        ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        update(d_loss, "discriminator")
        g_out = model.discriminator(model.generator(noise))
        g_loss = F.binary_cross_entropy_with_logits(g_out, torch.ones_like(g_out))
        update(g_loss, "generator")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    @torch.no_grad()
    def evaluate(self, model, batches):
        real = torch.cat([x for x, _ in batches])
        fake = model.generator(torch.randn(len(real), 4))
        return {"mean_gap": float((real.mean(0) - fake.mean(0)).norm())}


def two_player_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Module()
    model.generator = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    model.discriminator = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    return model


def test_two_optimizer_task_runs_through_the_same_loop_and_resumes(tmp_path):
    bundle = load_data("moons")
    cfg = config(data="moons", epochs=4, optimizer="adam", scheduler="cosine")

    def fit(epochs_before_stop: int | None, directory) -> tuple[dict, nn.Module]:
        seed_everything(0)
        trainer = Trainer(
            two_player_model(),
            TwoPlayerTask(),
            bundle,
            cfg,
            torch.device("cpu"),
            callbacks=[Checkpointer(directory)],
        )
        if epochs_before_stop is None:
            trainer.load_state_dict(*checkpoint.load_checkpoint(directory))
        else:
            trainer.epochs = epochs_before_stop
        return trainer.fit(), trainer

    straight, straight_trainer = fit(4, tmp_path / "a")
    fit(2, tmp_path / "b")
    resumed, resumed_trainer = fit(None, tmp_path / "b")

    assert set(straight_trainer.optimizers) == {"discriminator", "generator"}
    lrs = {n: o.param_groups[0]["initial_lr"] for n, o in straight_trainer.optimizers.items()}
    assert lrs == {"discriminator": 4e-3, "generator": 1e-3}
    assert {"train_d_loss", "train_g_loss", "test_mean_gap"} <= set(straight)
    assert resumed == straight
    for a, b in zip(
        straight_trainer.model.parameters(), resumed_trainer.model.parameters(), strict=True
    ):
        assert torch.equal(a, b)


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle", "warmup-cosine"])
def test_from_scratch_optimizers_train_like_torch(tmp_path, scheduler):
    """`optimizer_impl="deepnotes"` swaps in deepnotes.optim: the same run, the same numbers."""
    settings = dict(
        epochs=2, optimizer="sgd", scheduler=scheduler, lr=0.1, model_args={"hidden": [32]}
    )  # no dropout: both runs draw no random numbers
    ours = train(config(optimizer_impl="deepnotes", **settings), tmp_path / "ours")
    theirs = train(config(**settings), tmp_path / "theirs")
    for key, value in theirs["metrics"].items():
        assert ours["metrics"][key] == pytest.approx(value, rel=1e-5), key
    resumed_state = checkpoint.load_checkpoint(tmp_path / "ours" / "checkpoints")[1]
    assert set(resumed_state["optimizers"]["model"]) == {"state", "param_groups"}


@pytest.mark.parametrize("impl", ["torch", "deepnotes"])
@pytest.mark.parametrize("scheduler", ["cosine", "warmup-cosine"])
def test_the_cosine_schedules_end_at_the_floor(scheduler, impl):
    """`min_lr` is where the cosine ends (nanoGPT's floor): the last step's rate, the peak
    after the warm-up; a floor above the rate, or above a group's own rate, refused in one
    line where a cosine would use it."""
    settings = {"lr": 4e-3, "min_lr": 1e-4, "warmup_steps": 10, "optimizer_impl": impl}
    cfg = config(scheduler=scheduler, **settings)
    optimizer = make_optimizer([nn.Parameter(torch.zeros(1))], cfg)
    schedule = make_scheduler(optimizer, cfg, total_steps=100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert max(rates) == pytest.approx(4e-3)
    assert min(rates[10:]) > 1e-4  # above the floor until the last step...
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-9)  # ...which ends on it
    with pytest.raises(UserError, match="--min-lr"):
        config(scheduler=scheduler, lr=1e-4, min_lr=1e-3).validate()
    config(scheduler="none", lr=1e-4, min_lr=1e-3).validate()  # no cosine: no floor to refuse
    slow = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1e-5)  # a player's own rate
    with pytest.raises(UserError, match="below --min-lr"):
        make_scheduler(slow, cfg, total_steps=100)
