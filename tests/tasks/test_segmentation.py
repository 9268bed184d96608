"""Segmentation: the generated shapes-seg set, the mean IoU, the task, and the overlay figure.

The mean IoU is checked against scikit-learn's `jaccard_score(average="macro")`
on random labels (classes missing included); the data set's claims (shapes
touch and overlap, later shapes hide earlier ones, masks survive resizing)
are measured on the data.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from sklearn.metrics import jaccard_score
from torch import nn

import deepnotes.data.segmentation as seg
import deepnotes.models.unet  # noqa: F401  (registers the U-Nets)
from deepnotes.data.base import DataRequest
from deepnotes.metrics import confusion_matrix, mean_iou
from deepnotes.registry import DATASETS, MODELS, TASKS
from deepnotes.tasks.supervised import SegmentationTask
from deepnotes.train.config import TrainConfig
from deepnotes.train.run import train


@pytest.fixture(scope="module")
def bundle():
    return seg.shapes_seg(DataRequest())


# --- The data set --------------------------------------------------------------------------


def test_shapes_seg_is_registered_with_its_card():
    card = DATASETS.card("shapes-seg")
    assert (card.kind, card.task) == ("images", "segmentation")
    assert card.input_size == (1, 32, 32)
    assert card.num_classes == len(seg.SHAPES) + 1 == 5
    assert card.files == ()  # generated


def test_splits_shapes_and_types(bundle):
    sizes = {s: len(bundle.splits[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": 3000, "val": 1000, "test": 1000}
    assert bundle.kind == "images" and bundle.input_size == (1, 32, 32)
    assert bundle.num_classes == 5 and bundle.classes == ["background", *seg.SHAPES]
    images, masks = bundle.splits["train"].tensors
    assert images.dtype == torch.float32 and images.shape == (3000, 1, 32, 32)
    assert masks.dtype == torch.long and masks.shape == (3000, 32, 32)
    assert set(masks.unique().tolist()) == set(range(5))
    # standardised with the training split's statistics
    assert abs(images.mean().item()) < 1e-4 and abs(images.std().item() - 1) < 1e-3


def test_same_seed_same_data_other_seed_other_scenes(monkeypatch):
    monkeypatch.setattr(seg, "NUM_SEG_IMAGES", 100)  # the claim holds at any size
    first, again = seg.shapes_seg(DataRequest()), seg.shapes_seg(DataRequest())
    for a, b in zip(first.splits["test"].tensors, again.splits["test"].tensors, strict=True):
        assert torch.equal(a, b)
    first, other = (seg.draw_scene(np.random.default_rng(seed))[1] for seed in (0, 1))
    assert not np.array_equal(first, other)


def test_every_shape_touches_an_earlier_one():
    """Circumscribed circles overlap: |c_k − c_j| ≤ r_k + r_j for some earlier j."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        placed = seg.place_shapes(rng, 4, seg.SEG_SIZE)
        for k, ((yk, xk), rk) in enumerate(placed[1:], start=1):
            assert any(np.hypot(yk - yj, xk - xj) <= rk + rj for (yj, xj), rj in placed[:k])
            assert rk <= yk <= seg.SEG_SIZE[0] - rk and rk <= xk <= seg.SEG_SIZE[1] - rk


def test_different_shapes_touch_in_many_images(bundle):
    """Two pixels side by side with different shape classes: shapes touching or overlapping."""
    masks = bundle.splits["train"].tensors[1]  # (N, H, W)
    touching = torch.zeros(len(masks), dtype=torch.bool)
    for a, b in ((masks[:, 1:, :], masks[:, :-1, :]), (masks[:, :, 1:], masks[:, :, :-1])):
        touching |= ((a > 0) & (b > 0) & (a != b)).flatten(1).any(dim=1)
    assert touching.float().mean() > 0.4


def test_later_shapes_hide_earlier_ones(monkeypatch):
    """The painter's order: where two shapes overlap, the pixels and the mask are the last one's."""
    calls = []
    original = seg.shape_mask

    def recording(shape, size, center, radius):
        mask = original(shape, size, center, radius)
        calls.append((shape, mask))
        return mask

    monkeypatch.setattr(seg, "shape_mask", recording)
    rng = np.random.default_rng(3)
    hidden = 0
    for _ in range(50):
        calls.clear()
        image, mask = seg.draw_scene(rng)
        visible = np.zeros(seg.SEG_SIZE, dtype=np.int64)
        for shape, inside in calls:
            hidden += int((inside & (visible > 0)).any())
            visible[inside] = 1 + seg.SHAPES.index(shape)
        assert np.array_equal(mask, visible)
        assert image[mask > 0].mean() > image[mask == 0].mean() + 0.2
    assert hidden >= 25  # most scenes have a shape drawn over another


def test_masks_resize_by_nearest_neighbour():
    masks = torch.randint(0, 5, (3, 4, 6))
    up = seg.fit_masks(masks, (8, 12))
    assert torch.equal(up, masks.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))
    assert torch.equal(seg.fit_masks(up, (4, 6)), masks)
    assert seg.fit_masks(masks, None) is masks


def test_request_sets_image_size_and_channels(monkeypatch):
    monkeypatch.setattr(seg, "NUM_SEG_IMAGES", 100)
    resized = seg.shapes_seg(DataRequest(image_size=(24, 40), channels=3))
    images, masks = resized.splits["val"].tensors
    assert images.shape == (20, 3, 24, 40) and masks.shape == (20, 24, 40)
    assert resized.input_size == (3, 24, 40)
    assert set(masks.unique().tolist()) <= set(range(5))


# --- Mean IoU --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_mean_iou_equals_scikit_learns_macro_jaccard(seed: int):
    rng = np.random.default_rng(seed)
    num_classes = 6
    present = rng.choice(num_classes, size=4, replace=False)  # two classes absent from both
    true = rng.choice(present, size=(3, 7, 9))
    predicted = np.where(rng.random(true.shape) < 0.6, true, rng.choice(present, size=true.shape))
    confusion = confusion_matrix(torch.from_numpy(predicted), torch.from_numpy(true), num_classes)
    expected = sklearn_confusion_matrix(true.ravel(), predicted.ravel(), labels=range(num_classes))
    assert np.array_equal(confusion.numpy(), expected)
    jaccard = jaccard_score(true.ravel(), predicted.ravel(), average="macro")
    assert mean_iou(confusion) == pytest.approx(jaccard, rel=1e-12)


def test_mean_iou_by_hand():
    # class 0: 2 right, 1 predicted as 1; class 1: 1 right; class 2: absent from both.
    confusion = torch.tensor([[2, 1, 0], [0, 1, 0], [0, 0, 0]])
    # IoU_0 = 2 / (3 + 2 − 2) = 2/3, IoU_1 = 1 / (1 + 2 − 1) = 1/2
    assert mean_iou(confusion) == pytest.approx((2 / 3 + 1 / 2) / 2)


# --- The task ------------------------------------------------------------------------------


def test_task_is_registered():
    task = TASKS.create("segmentation")
    assert isinstance(task, SegmentationTask) and task.data_kinds == ("images",)


def test_evaluate_accumulates_over_the_split():
    """Two batches give the metrics of one batch holding both (IoU is a ratio of sums)."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, 5, 7, generator=generator, dtype=torch.float64)  # (B, K, H, W)
    masks = torch.randint(0, 4, (6, 5, 7), generator=generator)
    masks[:3][masks[:3] == 3] = 2  # class 3 appears in the second batch only
    task, model = SegmentationTask(), nn.Identity()  # the "model" passes the logits through
    split = task.evaluate(model, [(logits[:3], masks[:3]), (logits[3:], masks[3:])])
    whole = task.evaluate(model, [(logits, masks)])
    assert split == pytest.approx(whole, rel=1e-12)
    assert whole["loss"] == pytest.approx(F.cross_entropy(logits, masks).item(), rel=1e-6)
    predicted = logits.argmax(dim=1)
    assert whole["pixel_acc"] == pytest.approx((predicted == masks).double().mean().item())
    jaccard = jaccard_score(masks.flatten(), predicted.flatten(), average="macro")
    assert whole["miou"] == pytest.approx(jaccard)


def test_a_perfect_prediction_scores_one():
    masks = torch.randint(0, 3, (2, 4, 4))
    logits = F.one_hot(masks, 3).permute(0, 3, 1, 2).float() * 10  # (B, K, H, W)
    metrics = SegmentationTask().evaluate(nn.Identity(), [(logits, masks)])
    assert metrics["miou"] == metrics["pixel_acc"] == 1.0


def test_loss_and_model_kwargs(bundle):
    task = SegmentationTask()
    assert task.model_kwargs(bundle) == {"num_classes": 5, "input_size": (1, 32, 32)}
    torch.manual_seed(0)
    model = MODELS.create("unet_padded_tiny", **task.model_kwargs(bundle))
    images, masks = bundle.splits["train"][:4]
    loss, logs = task.loss(model, (images, masks))
    assert loss.requires_grad and set(logs) == {"loss", "pixel_acc"}
    assert loss.item() == pytest.approx(np.log(5), rel=0.5)  # about chance at the start


def test_training_reports_test_miou(tmp_path, monkeypatch):
    monkeypatch.setattr(seg, "NUM_SEG_IMAGES", 200)  # train 120, val 40, test 40
    config = TrainConfig(
        model="unet_padded_tiny",
        data="shapes-seg",
        max_steps=30,
        progress=False,
    )
    summary = train(config, tmp_path / "run")
    assert summary["task"] == "segmentation"
    assert {"train_pixel_acc", "val_miou", "test_miou", "test_pixel_acc"} <= set(summary["metrics"])
    # 30 steps reach 0.17–0.29 on seeds 0–2, where 2 steps leave 0.019 (every seed)
    assert summary["metrics"]["test_miou"] >= 0.1
    assert summary["figures"] == ["predictions.png"]  # the overlays, saved beside the summary
    assert (tmp_path / "run" / "predictions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- The overlay figure --------------------------------------------------------------------


def test_prediction_overlays_draw_image_truth_and_prediction(bundle):
    torch.manual_seed(0)
    model = MODELS.create("unet_padded_tiny", num_classes=5, input_size=(1, 32, 32))
    model.train()
    fig = SegmentationTask().prediction_overlays(model, bundle, count=4)
    assert model.training  # the model's mode is restored
    axes = fig.get_axes()
    assert len(axes) == 3 * 4
    assert [ax.get_ylabel() for ax in axes[::4]] == ["image", "true", "predicted"]
    assert len(axes[4].get_images()) == 2  # the image, and the mask over it
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(seg.SHAPES)
