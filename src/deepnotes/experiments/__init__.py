"""The course's claims as experiments, one module per syllabus topic, each registered."""

from deepnotes.experiments import activations, architectures, conv_arithmetic, lenet_digits

__all__ = ["activations", "architectures", "conv_arithmetic", "lenet_digits"]
