"""Active samplers. Importing this package registers every strategy: each module of the package is
imported, so a new strategy is one file with an ``@register("name")`` class and nothing else to edit."""

import importlib
import pkgutil

from llmaaa.active.base import Sampler, SamplerError, available, make_sampler, register
from llmaaa.active.aggregate import example_scores, row_uncertainty, top_k

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
del _module

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
