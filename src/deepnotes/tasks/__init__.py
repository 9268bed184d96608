"""Tasks: what a batch holds, what the loss is and how a model is judged, one class each.

Importing this package registers every task in `deepnotes.registry.TASKS`, one
module at a time and in plain sight; `TASKS` imports it on its first lookup, so
`TASKS.names()` lists them all in a fresh interpreter.

    base         the `Task` base class, `Runs`, `SampleRequest`, `Samples`
    supervised   classification, audio-classification, segmentation, regression
    language     language-model, translation
    graphs       node
    generative   vae, gan
    physics      physics (a learned simulator's accelerations)
    speech       ctc
"""

from deepnotes.tasks import generative, graphs, language, physics, speech, supervised

__all__ = ["generative", "graphs", "language", "physics", "speech", "supervised"]
