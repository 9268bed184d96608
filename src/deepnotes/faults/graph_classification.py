"""Faults in whole-graph learning: GIN's sum taken as a mean, the sum readout as a mean."""

from __future__ import annotations

from contextlib import AbstractContextManager

from torch import Tensor

from deepnotes.cards import FaultCard
from deepnotes.faults.base import replaced
from deepnotes.graph import message_passing, readout
from deepnotes.registry import FAULTS


@FAULTS.register(
    "gin-aggregates-by-mean",
    FaultCard(
        mistake="GIN averages its neighbours, (1 + ε) x_i + mean_j x_j, where Xu et al. sum them",
        consequence="a mean keeps only the distribution of the neighbours' features, not how "
        "many there are: on graphs with constant features every neighbourhood averages to the "
        "same value whatever the degree, so GIN can no longer tell a 2-regular graph from a "
        "4-regular one and is no more powerful than GCN, far below the 1-WL test",
        replaces="deepnotes.graph.message_passing.GINConv.aggregation",
        targets=("graph-classification/gin-sum-separates",),
    ),
)
def gin_aggregates_by_mean() -> AbstractContextManager[None]:
    return replaced(message_passing.GINConv, "aggregation", "mean")


def global_pool_sum_as_mean(
    x: Tensor, batch: Tensor, num_graphs: int | None = None, how: str = "sum"
) -> Tensor:
    """The readout with the sum divided by each graph's node count: a mean where the sum
    belongs (mean and max as they are)."""
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1
    return message_passing.aggregate(x, batch, num_graphs, "mean" if how == "sum" else how)


@FAULTS.register(
    "sum-readout-averages",
    FaultCard(
        mistake="The sum readout divides by the number of nodes: global_add_pool written as a mean",
        consequence="a graph's vector no longer grows with its size: a ring of four units "
        "pools to the same vector as a ring of two of the same units, so the number of rings "
        "(any count) can no longer be read out",
        replaces="deepnotes.graph.readout.global_pool",
        targets=("graph-classification/sum-readout-counts-rings",),
    ),
)
def sum_readout_averages() -> AbstractContextManager[None]:
    return replaced(readout, "global_pool", global_pool_sum_as_mean)
