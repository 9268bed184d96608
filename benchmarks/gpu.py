"""Training throughput on a CUDA GPU: benchmark (c) of `run.py` with the speed switches.

For resnet18_small (images/s, batch 256) and gpt_char (tokens/s, batch 64 × 256
context), ours in the trainer against the torch reference in a bare loop
(torchvision's resnet18 with the small stem; torch.nn.TransformerEncoder with
gpt_char's shapes), each in four settings: float32; AMP (bfloat16 where the card
has it, else float16 with a gradient scaler); AMP + channels-last (images);
AMP + torch.compile. One run takes under 5 minutes on a current card.

    python benchmarks/gpu.py --json gpu.json --markdown gpu.md
    python benchmarks/gpu.py --device cpu --steps 1 --settings float32 amp   # a smoke test

Record the printed table in `benchmarks/RESULTS.md` with the card's name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from deepnotes.data.base import DataBundle
from deepnotes.registry import MODELS
from deepnotes.tasks.language import LanguageModelTask
from deepnotes.tasks.supervised import ClassificationTask
from run import TorchGPT, benchmark_trainer, torchvision_resnet18_small

SETTINGS = {
    "float32": {},
    "amp": {"amp": "auto"},
    "amp + channels-last": {"amp": "auto", "channels_last": True},
    "amp + compile": {"amp": "auto", "compile": True},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_loop(
    model: nn.Module,
    batches: list,
    device: torch.device,
    amp: bool,
    channels_last: bool,
    compile_: bool,
) -> Callable[[], None]:
    """The reference's training steps, with the same switches applied by hand."""
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile_ else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=amp and dtype == torch.float16)

    def run() -> None:
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                logits = step_model(x)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        synchronize(device)

    return run


def trainer_loop(
    model: nn.Module,
    task: Any,
    bundle: DataBundle,
    device: torch.device,
    steps: int,
    batch: int,
    settings: dict,
) -> Callable[[], None]:
    trainer = benchmark_trainer(model, task, bundle, steps, batch, device, **settings)

    def run() -> None:
        trainer.state.step, trainer.state.epoch = 0, 0
        trainer.run_epoch()
        synchronize(device)

    return run


def seconds(work: Callable[[], None], repeats: int = 3) -> float:
    work()  # warm-up: compilation, cuDNN autotuning, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to try it")
    parser.add_argument("--image-batch", type=int, default=256, help="resnet18_small's batch")
    parser.add_argument("--text-batch", type=int, default=64, help="gpt_char's batch")
    parser.add_argument("--repeats", type=int, default=3, help="timings per setting (median)")
    parser.add_argument(
        "--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), metavar="NAME"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU (see run.py for the CPU)")
    torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (smoke test)"
    steps, rows = args.steps, []
    g = torch.Generator().manual_seed(0)
    workloads = []
    batch = args.image_batch
    images = torch.randn(steps * batch, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (steps * batch,), generator=g)
    workloads.append(
        (
            "resnet18_small",
            "images/s",
            steps * batch,
            DataBundle(
                "random-images",
                "images",
                {"train": torch.utils.data.TensorDataset(images, labels)},
                (3, 32, 32),
                10,
            ),
            [(images[i : i + batch], labels[i : i + batch]) for i in range(0, len(images), batch)],
            lambda: MODELS.create("resnet18_small", num_classes=10),
            lambda: torchvision_resnet18_small(10),
            ClassificationTask,
            batch,
        )
    )
    vocab, block, batch = 65, 256, args.text_batch
    tokens = torch.randint(0, vocab, (steps * batch, block + 1), generator=g)
    x, y = tokens[:, :-1], tokens[:, 1:]
    workloads.append(
        (
            "gpt_char",
            "tokens/s",
            steps * batch * block,
            DataBundle(
                "random-text",
                "text",
                {"train": torch.utils.data.TensorDataset(x, y)},
                (block,),
                vocab,
            ),
            [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)],
            lambda: MODELS.create("gpt_char", num_classes=vocab, input_size=(block,)),
            lambda: TorchGPT(vocab, block, n_layer=4, n_head=4, width=128),
            LanguageModelTask,
            batch,
        )
    )
    for name, unit, items, bundle, batches, ours, theirs, task, batch in workloads:
        for setting in args.settings:
            switches = SETTINGS[setting]
            if setting == "amp + channels-last" and name == "gpt_char":
                continue  # no images
            ours_loop = trainer_loop(ours(), task(), bundle, device, steps, batch, switches)
            ours_s = seconds(ours_loop, args.repeats)
            theirs_s = seconds(
                bare_loop(
                    theirs(),
                    batches,
                    device,
                    amp="amp" in switches,
                    channels_last=switches.get("channels_last", False),
                    compile_=switches.get("compile", False),
                ),
                args.repeats,
            )
            row = {
                "model": name,
                "setting": setting,
                "unit": unit,
                "ours": items / ours_s,
                "reference": items / theirs_s,
                "ratio": theirs_s / ours_s,
            }
            rows.append(row)
            print(
                f"{name:<15} {setting:<20} ours {row['ours']:>12,.0f} {unit}  reference "
                f"{row['reference']:>12,.0f}  ours / reference {row['ratio']:.2f}",
                flush=True,
            )
    table = [
        f"GPU: {card}, torch {torch.__version__}, {steps} steps per timing "
        f"(median of {args.repeats})",
        "",
        "| model | setting | unit | ours | reference | ours / reference |",
        "| --- | --- | --- | ---: | ---: | ---: |",
        *(
            f"| {r['model']} | {r['setting']} | {r['unit']} | {r['ours']:,.0f} "
            f"| {r['reference']:,.0f} | {r['ratio']:.2f} |"
            for r in rows
        ),
    ]
    print("\n".join(table))
    if args.json:
        args.json.write_text(json.dumps({"card": card, "rows": rows}, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
