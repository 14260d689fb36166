"""Active samplers. Importing this package registers every strategy module listed here."""

from llmaaa.active.base import Sampler, SamplerError, available, make_sampler, register

__all__ = ["Sampler", "SamplerError", "available", "make_sampler", "register"]
