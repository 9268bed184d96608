"""The architectures experiment's own functions: the ensemble's vote, the cost formulas of
Inception's blocks against the built modules, the stem's side, the notes' softmax gate."""

from __future__ import annotations

import pytest
import torch

from deepnotes.experiments import architectures
from deepnotes.models import inception


def test_an_ensemble_averages_probabilities_not_votes() -> None:
    # one confident wrong member against two lukewarm right ones: the average says class 1,
    # a majority vote would say 0
    probabilities = torch.tensor([[[0.0, 1.0]], [[0.6, 0.4]], [[0.6, 0.4]]])  # (3, 1, 2)
    assert architectures.ensemble_accuracy(probabilities, torch.tensor([0])) == 0.0
    assert architectures.ensemble_accuracy(probabilities[1:], torch.tensor([0])) == 1.0


def test_the_mean_ensemble_of_one_is_the_mean_member() -> None:
    probabilities = torch.softmax(
        torch.randn(4, 50, 3, generator=torch.Generator().manual_seed(0)), -1
    )
    labels = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(1))
    members = [architectures.ensemble_accuracy(p[None], labels) for p in probabilities]
    mean = architectures.mean_ensemble_accuracy(probabilities, labels, 1)
    assert mean == pytest.approx(sum(members) / 4)
    whole = architectures.mean_ensemble_accuracy(probabilities, labels, 4)
    assert whole == architectures.ensemble_accuracy(probabilities, labels)


@pytest.mark.parametrize("name", list(architectures.inception_structures(12)))
def test_the_formula_counts_what_the_module_holds(name: str) -> None:
    build, convs = architectures.inception_structures(12)[name]
    assert architectures.basic_convs_cost(convs, 5) == architectures.built_cost(build, 12, 5)


def test_without_reductions_the_large_kernels_read_every_input_channel() -> None:
    block = inception.InceptionWithoutReductions(12, 2, 3, 4, 5)
    assert block.branch2.conv.weight.shape == (3, 12, 3, 3)
    assert block.branch3.conv.weight.shape == (4, 12, 3, 3)
    assert block(torch.randn(2, 12, 5, 5)).shape == (2, 14, 5, 5)


@pytest.mark.parametrize(("stem", "fast"), [("imagenet", True), ("small", False)])
def test_the_stem_side_by_formula_is_the_networks(stem: str, fast: bool) -> None:
    with torch.device("meta"):
        net = inception.GoogLeNet(stem=stem, depths=(1, 1, 1), width=0.25)
        side = net.maxpool2(
            net.conv3(net.conv2(net.maxpool1(net.conv1(torch.zeros(1, 3, 224, 224)))))
        )
    assert architectures.stem_side(224, fast) == side.shape[-1] == (28 if fast else 112)


def test_the_notes_softmax_gates_sum_to_their_scale() -> None:
    logits = torch.randn(3, 16, 1, 1)
    for scale in (1.0, 16.0):
        gates = architectures.ChannelSoftmax(scale)(logits)
        assert torch.allclose(gates.sum(dim=1), torch.full((3, 1, 1), scale))
