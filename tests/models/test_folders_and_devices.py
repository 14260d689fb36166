"""A pruned model folder or an unavailable device is a clear error that names the problem."""

import os
import re

import pytest
import torch

from llmaaa.data.schema import LabelSet
from llmaaa.models.common import DeviceError, ModelFolderError, resolve_device
from llmaaa.training.export import load_task_model
from llmaaa.training.trainer import TrainConfig, build_model

from student_cases import LABELS


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA; this one has a GPU")
def test_cuda_on_a_machine_without_it_is_refused_by_name():
    with pytest.raises(DeviceError, match=re.escape("device 'cuda' was asked for but this machine has no usable CUDA GPU")):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        build_model("ner", LABELS, TrainConfig(device="cuda:0"))


def test_unknown_device_names_are_refused_by_name():
    with pytest.raises(DeviceError, match=re.escape("unknown device 'gpu'; use 'auto', 'cpu' or 'cuda'")):
        resolve_device("gpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.fixture(scope="module")
def ner_folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("ner")
    build_model("ner", LABELS, TrainConfig(device="cpu", max_length=32)).save(path)
    return path


@pytest.mark.parametrize("name, message", [
    ("model.safetensors", "model.safetensors or pytorch_model.bin"),
    ("config.json", "config.json missing"),
    # without it AutoTokenizer builds a 5-token vocabulary: every word [UNK], nothing ever predicted
    ("tokenizer.json", "tokenizer.json or vocab.txt"),
])
def test_a_folder_missing_a_file_names_the_file(ner_folder, tmp_path, name, message):
    import shutil

    copy = shutil.copytree(ner_folder, tmp_path / "copy")
    os.remove(copy / name)
    with pytest.raises(ModelFolderError, match=re.escape(f"{copy} is an incomplete model folder: {message}")):
        load_task_model(copy, device="cpu")


def test_an_re_folder_without_its_head_names_the_file(tmp_path):
    build_model("re", LabelSet(("PER",), ("Knows",)), TrainConfig(device="cpu", max_length=32)).save(tmp_path)
    os.remove(tmp_path / "re_head.pt")
    with pytest.raises(ModelFolderError, match="incomplete model folder: re_head.pt missing"):
        load_task_model(tmp_path, device="cpu")
