"""``python -m ml_backend serve|export|convert``: the backend's own command line.

``serve`` runs gunicorn with the one-worker layout the backend needs (the job thread and state
live in that process); ``export`` writes a project's dataset and model to a folder; ``convert``
reads Label Studio's own JSON export into the JSONL the ``llmaaa`` command line reads.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml_backend", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the ML backend with gunicorn (config from the environment)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=os.environ.get("PORT", "9090"), help="default $PORT or 9090")
    s.add_argument("--threads", type=int, default=8)
    e = sub.add_parser("export", help="write a project's dataset (LS JSON, CoNLL, JSONL) and current model")
    e.add_argument("--project", required=True, type=int, help="the Label Studio project id")
    e.add_argument("--output", required=True, help="folder to write (created)")
    e.add_argument("--model-dir", default=None, help="MODEL_DIR of the backend (default: $MODEL_DIR)")
    c = sub.add_parser("convert", help="read Label Studio's JSON export into llmaaa JSONL (gold = the latest real annotation)",
                       description="Write one example per task of a Label Studio \"JSON\" export. A task's gold is its most "
                                   "recently updated annotation that is not cancelled and not a copy of a prediction "
                                   "nobody opened; predictions are never read.")
    c.add_argument("--config", required=True, help="the project's labeling config XML (Settings > Labeling Interface > Code)")
    c.add_argument("--input", required=True, help='the file of Label Studio\'s "JSON" export')
    c.add_argument("--output", required=True, help="JSONL file to write (for llmaaa --demos / --gold)")
    c.add_argument("--include-unlabeled", action="store_true",
                   help="also write tasks without a gold annotation, without labels (a pool to annotate)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        cmd = [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(args.threads), "--timeout", "0",
               "--bind", f"{args.host}:{args.port}", "ml_backend._wsgi:app"]
        os.execv(sys.executable, cmd)
    if args.command == "convert":
        return _convert(args)
    from llmaaa.config import ConfigError
    from ml_backend.config import BackendConfig
    from ml_backend.export import ExportError, export_project

    try:
        config = BackendConfig.from_env({"model_dir": args.model_dir})  # a stray SEED=abc says so, no traceback
        files = export_project(config, args.project, args.output)
    except (ExportError, ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for f in files:
        print(f)
    return 0


def _convert(args: argparse.Namespace) -> int:
    """Run ``convert``: each skipped task on stderr, then the summary; exit 2 when nothing was written."""
    from ml_backend.labeling import UnsupportedConfig
    from ml_backend.ls_export import ConvertError, convert_file

    try:
        result = convert_file(args.config, args.input, args.output, include_unlabeled=args.include_unlabeled)
    except UnsupportedConfig as err:
        print(f"error: {args.config}: {err}", file=sys.stderr)
        return 2
    except (ConvertError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for why in result.skipped:
        print(f"skipped {why}", file=sys.stderr)
    if not result.examples:
        hint = "" if args.include_unlabeled or not result.without_gold else " (--include-unlabeled writes them unlabeled)"
        print(f"error: nothing written: no task of {args.input} has usable text and a gold annotation; "
              f"{result.without_gold} tasks without one{hint}, {len(result.skipped)} skipped", file=sys.stderr)
        return 2
    print(result.line(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
