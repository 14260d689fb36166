"""Label-Studio-shaped request bodies and an app on a fresh MODEL_DIR (as Label Studio 1.23.2 sends them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_backend.app import create_app
from ml_backend.config import BackendConfig

ROOT = Path(__file__).resolve().parents[2]
NER_RE = (ROOT / "label_config" / "ner_re.xml").read_text(encoding="utf-8")
NER = (ROOT / "label_config" / "ner.xml").read_text(encoding="utf-8")
PROJECT = "1.1700000000"
PARAMS = {"login": None, "password": None, "context": None}


def ls_task(task_id: int, text: Any, project: int = 1, **data: Any) -> dict[str, Any]:
    """A task as Label Studio serialises it for /predict (full dict, not just data)."""
    d = {} if text is None else {"text": text}
    return {"id": task_id, "data": {**d, **data}, "annotations": [], "predictions": [], "meta": {},
            "project": project, "created_at": "2026-11-24T10:00:00Z", "updated_at": "2026-11-24T10:00:00Z",
            "is_labeled": False, "overlap": 1, "file_upload": None, "inner_id": task_id}


def region(rid: str, start: int, end: int, text: str, label: str) -> dict[str, Any]:
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual",
            "value": {"start": start, "end": end, "text": text, "labels": [label]}}


def relation(a: str, b: str, label: str) -> dict[str, Any]:
    return {"from_id": a, "to_id": b, "type": "relation", "direction": "right", "labels": [label]}


def annotation_event(action: str, ann_id: int, task_id: int, text: str, result: list, xml: str = NER_RE) -> dict:
    """ANNOTATION_CREATED / _UPDATED as Label Studio's auto-created ML webhook posts it."""
    return {
        "action": action,
        "annotation": {"id": ann_id, "result": result, "task": task_id, "project": 1, "completed_by": 1,
                       "was_cancelled": False, "ground_truth": False, "lead_time": 3.2, "result_count": len(result),
                       "created_at": "2026-11-24T10:00:00Z", "updated_at": "2026-11-24T10:00:00Z"},
        "task": {"id": task_id, "data": {"text": text}, "project": 1, "is_labeled": True},
        "project": {"id": 1, "title": "p", "label_config": xml, "model_version": "llmaaa-1"},
    }


def make_config(tmp_path: Path, **kw: Any) -> BackendConfig:
    base = dict(model_dir=str(tmp_path / "model_dir"), label_studio_api_key=None, train_threshold=3,
                llm_base_url="http://127.0.0.1:9/v1", llm_model="stub", llm_api_key="x")
    base.update(kw)
    return BackendConfig(**base)


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**kw: Any):
        app = create_app(make_config(tmp_path, **kw))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["llmaaa"].close()


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def setup_body(xml: str = NER_RE, project: str = PROJECT) -> dict[str, Any]:
    return {"project": project, "schema": xml, "hostname": "http://localhost:8080", "access_token": None,
            "extra_params": None}


def predict_body(tasks: list[dict], xml: str = NER_RE, project: str = PROJECT) -> dict[str, Any]:
    return {"tasks": tasks, "project": project, "label_config": xml, "params": PARAMS}
