"""LLMaAA: LLMs as active annotators (Zhang et al., Findings of EMNLP 2023).

The method only; it knows nothing of Label Studio. Data flows one way around the loop:
pool -> ``active`` sampler -> ``annotate`` teacher -> ``training`` -> ``models`` student -> sampler.
"""

__version__ = "0.1.0"
