import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from llmaaa.models.encoder import resolve_model_name

    return AutoTokenizer.from_pretrained(resolve_model_name(None))
