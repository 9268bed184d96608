"""Data sets: each module registers its sets in `deepnotes.registry.DATASETS`.

Importing this package runs the registrations, one module at a time and in
plain sight (no `import *`); `DATASETS` imports it on its first lookup.

    embedded           digits (scikit-learn's 8×8 digits, always available)
    synthetic          blobs, moons, shapes (generated from the data seed)
    torchvision_sets   mnist, fashion-mnist, cifar10 (files under a data root)
    segmentation       shapes-seg (touching, overlapping shapes with per-pixel masks)
    text               tinyshakespeare (under a data root), pydoc-topics (ships with Python)
    graphs             karate, sbm, cora / citeseer / pubmed (Planetoid, restricted unpickler)
    graph_sets         regular-graphs, macrocycles (sets of small graphs to classify whole)
    particles          springs (particles joined by springs, simulated by velocity Verlet)
    translation        numbers-en-fr (numbers in English → French words, generated)
    speech             fsdd, fsdd-strings (spoken digits under a data root, log-mel frames)
"""

from deepnotes.data import (
    embedded,
    graph_sets,
    graphs,
    particles,
    segmentation,
    speech,
    synthetic,
    text,
    torchvision_sets,
    translation,
)

__all__ = [
    "embedded",
    "graph_sets",
    "graphs",
    "particles",
    "segmentation",
    "speech",
    "synthetic",
    "text",
    "torchvision_sets",
    "translation",
]
