"""Active samplers. Importing this package registers every strategy module listed here."""

from llmaaa.active.base import Sampler, SamplerError, available, make_sampler, register
from llmaaa.active import random, uncertainty, diversity, hybrid  # noqa: F401,E402  (registration)
from llmaaa.active.aggregate import example_scores, row_uncertainty, top_k

__all__ = [
    "Sampler",
    "SamplerError",
    "available",
    "example_scores",
    "make_sampler",
    "register",
    "row_uncertainty",
    "top_k",
]
