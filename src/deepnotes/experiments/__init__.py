"""The course's claims as experiments, one module per syllabus topic, each registered."""

from deepnotes.experiments import (
    activations,
    activations_training,
    architectures,
    augmentation,
    batchnorm,
    conv_arithmetic,
    curse_of_dimensionality,
    equivariance,
    gan_tricks,
    latent_variable_models,
    lenet_digits,
    minibatch_noise,
    overfitting,
    transposed_conv,
    vae,
    weight_sharing,
)

__all__ = [
    "activations",
    "activations_training",
    "architectures",
    "augmentation",
    "batchnorm",
    "conv_arithmetic",
    "curse_of_dimensionality",
    "equivariance",
    "gan_tricks",
    "latent_variable_models",
    "lenet_digits",
    "minibatch_noise",
    "overfitting",
    "transposed_conv",
    "vae",
    "weight_sharing",
]
