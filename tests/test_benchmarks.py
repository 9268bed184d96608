"""The benchmarks compare like with like: these tests check what is compared, never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run as bench  # noqa: E402  (benchmarks/run.py)


def test_the_bare_loop_does_the_trainers_work():
    """The overhead ratio means something only if the bare loop computes what the trainer
    does: the same batches, steps and schedule end in identical weights."""
    config = bench.model_config("lenet5_relu", epochs=2)
    weights = []
    for use_trainer in (True, False):
        torch.manual_seed(0)
        model, task, bundle, _ = bench.prepare(config)
        if use_trainer:
            trainer = bench.Trainer(model, task, bundle, config, bench.CPU)
            for _ in range(2):
                trainer.run_epoch()
        else:
            bench.bare_epochs(model, bundle, config, 2)
        weights.append(model.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(*(w.values() for w in weights), strict=True))


def test_the_reference_architectures_match_ours():
    """torchvision's resnet18 with the small stem and the torch.nn GPT have our parameter
    counts and output shapes, so a throughput ratio compares the same network."""
    ours = bench.MODELS.create("resnet18_small", num_classes=10)
    theirs = bench.torchvision_resnet18_small(10)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    images = torch.randn(2, 3, 32, 32)
    assert ours(images).shape == theirs(images).shape == (2, 10)
    gpt = bench.MODELS.create("gpt_char", num_classes=65, input_size=(64,))
    torch_gpt = bench.TorchGPT(65, 64, n_layer=4, n_head=4, width=128)
    tokens = torch.randint(0, 65, (2, 64))
    assert gpt(tokens).shape == torch_gpt(tokens).shape == (2, 64, 65)
    ours_params = sum(p.numel() for p in gpt.parameters())
    assert ours_params == sum(p.numel() for p in torch_gpt.parameters())


def test_the_gpu_script_runs(tmp_path):
    """benchmarks/gpu.py, tried on the CPU with one step (a GPU is not here to run it)."""
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "gpu.py"),
            "--device",
            "cpu",
            "--steps",
            "1",
            "--image-batch",
            "4",
            "--text-batch",
            "2",
            "--repeats",
            "1",
            "--settings",
            "float32",
            "amp",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["model"], r["setting"]) for r in rows] == [
        ("resnet18_small", "float32"),
        ("resnet18_small", "amp"),
        ("gpt_char", "float32"),
        ("gpt_char", "amp"),
    ]
    assert all(r["ours"] > 0 and r["reference"] > 0 for r in rows)
