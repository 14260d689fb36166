"""The Label Studio ML-backend HTTP protocol (the label-studio-ml 2.x contract), served by Flask.

Routes: ``GET /health`` (and ``/``), ``POST /setup``, ``POST /predict``, ``POST /webhook``,
``GET /metrics``, ``GET /export``; ``/report`` when ``ml_backend.report`` is installed.
Budgets Label Studio enforces: /health 1 s and /setup 3 s (both called before every predict
batch, so both are cheap), /webhook 1 s (inside the annotator's own request without Redis).

Every error is JSON: 400 for a request we cannot act on (with what to send instead), 401 without
valid basic auth (when ``BASIC_AUTH_USER``/``BASIC_AUTH_PASS`` are set), never a traceback body.
Run with one worker and threads (the job thread and the state live in that process)::

    gunicorn --workers 1 --threads 8 --timeout 0 --bind 127.0.0.1:9090 ml_backend._wsgi:app
"""

from __future__ import annotations

import base64
import hmac
import importlib.util
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from llmaaa.tracebacks import traceback_text

from ml_backend.config import BackendConfig
from ml_backend.model import LLMaAABackend, RequestError
from ml_backend.state import StateError

log = logging.getLogger(__name__)

EXTENSION = "llmaaa"  # app.extensions[EXTENSION] is the LLMaAABackend (the report blueprint reads it)


def backend() -> LLMaAABackend:
    return current_app.extensions[EXTENSION]


def _json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # "[[[[..." nested past the parser's depth: a bad request, not a 500
        raise RequestError("the request body is JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def _authorized(config: BackendConfig) -> bool:
    header = request.headers.get("Authorization", "")
    if header[:6].casefold() != "basic ":  # the scheme name is case-insensitive (RFC 7617)
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except ValueError:
        return False
    ok_user = hmac.compare_digest(user.encode(), (config.basic_auth_user or "").encode())
    ok_pass = hmac.compare_digest(password.encode(), (config.basic_auth_pass or "").encode())
    return ok_user and ok_pass


def create_app(config: BackendConfig | None = None) -> Flask:
    """The WSGI app; ``config`` defaults to the environment (``BackendConfig.from_env()``)."""
    config = config or BackendConfig.from_env()
    app = Flask("ml_backend")
    app.json.ensure_ascii = False
    app.extensions[EXTENSION] = LLMaAABackend(config)

    @app.before_request
    def _auth() -> Response | None:
        if config.auth_enabled and not _authorized(config):
            resp = jsonify(error="authentication required: use the BASIC_AUTH_USER / BASIC_AUTH_PASS credentials")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Basic realm="llmaaa"'
            return resp
        return None

    @app.errorhandler(RequestError)
    def _bad_request(e: RequestError):
        return jsonify(error=str(e)), 400

    @app.errorhandler(StateError)
    def _broken_state(e: StateError):  # one project's database: its own requests fail, with what to do
        log.error("%s", e)
        return jsonify(error=str(e)), 500

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        return jsonify(error=e.description or e.name), e.code

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.error("unexpected error on %s %s: %s", request.method, request.path, traceback_text(e))
        return jsonify(error=f"internal error ({type(e).__name__}); see the backend log"), 500

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(status="UP", model_class="LLMaAABackend")

    @app.post("/setup")
    def setup():
        return jsonify(backend().setup(_json_body()))

    @app.post("/predict")
    def predict():
        return Response(backend().predict_json(_json_body()), mimetype="application/json")

    @app.post("/webhook")
    def webhook():
        body = _json_body()
        event = body.get("action")
        if not isinstance(event, str):
            raise RequestError("a webhook body needs 'action' (e.g. ANNOTATION_CREATED)")
        result = backend().fit(event, body)
        return jsonify(result), (200 if result.get("status") == "Unknown event" else 201)

    @app.get("/metrics")
    def metrics():
        return jsonify(backend().metrics())

    @app.get("/export")
    def export():
        from ml_backend.export import export_zip

        pid = request.args.get("project", "")
        if not pid.isdecimal() or not (backend().config.root / str(int(pid)) / "state.db").exists():
            raise RequestError("add ?project=ID naming a project this backend has served")
        data = export_zip(backend().context(str(int(pid))))
        return Response(data, mimetype="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="llmaaa-project-{int(pid)}.zip"'})

    if importlib.util.find_spec("ml_backend.report") is not None:
        from ml_backend.report import blueprint

        app.register_blueprint(blueprint)
    return app
