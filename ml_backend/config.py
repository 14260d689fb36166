"""The backend's one typed config, read from the environment (the names Label Studio's ML backends use).

Built once in :func:`ml_backend.app.create_app` and passed down; nothing else reads ``os.environ``.
The names are the ones the upstream label-studio-ml examples and their docker-compose files use
(``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``, ``MODEL_DIR``, ``BASIC_AUTH_USER``...), so an
existing compose file carries over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from llmaaa.config import ConfigError, from_env

PREDICT_MODES = ("student", "llm", "none")


@dataclass
class BackendConfig:
    """Every option of the backend; the environment variable is the field name in upper case.

    ``train_threshold``: new human annotations (created/updated since the last round) that start a
    round; "Start Training" in Label Studio starts one at any count. ``llm_batch``: tasks the LLM
    pre-annotates per round (the sampler's top ones; the first round takes a seeded random batch).
    ``min_train_labels``: fewer LLM-labeled examples than this, or no human label, and the round
    skips training (it still pre-annotates and says why in the job record).
    ``seed``: the cold-start batch, the samplers' ties and the student (``TRAIN_SEED`` wins for the student).
    ``predict_on_demand``: what ``/predict`` does for a task with no stored prediction:
    ``student`` (the current student, when one exists, else nothing), ``llm`` (ask the teacher,
    bounded by ``predict_llm_max_tasks`` per request) or ``none``.
    """

    label_studio_url: str = field(default="http://127.0.0.1:8080", metadata={"env": ("LABEL_STUDIO_HOST",)})
    label_studio_api_key: str | None = field(default=None, metadata={"env": ("LABEL_STUDIO_ACCESS_TOKEN",)})
    model_dir: str = "model_dir"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = field(default=None, metadata={"env": ("OPENAI_API_KEY",)})
    train_threshold: int = 10
    sampler: str = "least_confidence"
    # how a task's token uncertainties add up to its score: sum (the paper's, on sentences: a long uncertain
    # document first), mean (per token: long and short tasks alike) or max (its most doubtful token)
    sampler_reduction: str = "sum"
    llm_batch: int = 20
    min_train_labels: int = 8
    seed: int = 0
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = None
    predict_on_demand: str = "student"  # student | llm | none
    predict_llm_max_tasks: int = 4
    # on-demand LLM answers not back in this many seconds are per-task errors (Label Studio drops the whole batch at
    # 100 s); the calls finish in the background and their predictions are stored for the next /predict
    predict_llm_deadline_s: float = 80.0
    student_relations: bool = False  # queue predictions from the RE student too (scores every entity pair: slow)
    run_jobs: bool = True  # false: record and queue only (no background rounds), e.g. to inspect a state
    # longer texts get a per-task error on demand (stored predictions still served) and are left out of rounds
    max_text_chars: int = 100_000
    model_version_prefix: str = "llmaaa"
    keep_prediction_versions: int = 2  # our newest versions kept in Label Studio; older ones deleted; 0 = keep all
    lock_wait_s: float = 30.0  # at start, how long to wait for another backend on the same MODEL_DIR to exit
    keep_model_versions: int = 3  # trained student folders kept under MODEL_DIR (~90 MB each for MiniLM); 0 = keep all
    device: str | None = None  # "cpu", "cuda", ...; None: CUDA when present (student options: TRAIN_* -> TrainConfig)
    teacher_k: int = 5  # k-NN demonstrations per prompt
    # stop buying LLM labels once the student's gold F1 >= the LLM's F1 against human labels for this many
    # trained rounds in a row (0: never); the LLM's F1 needs >= stop_min_overlap tasks labeled by both
    stop_after_matched: int = 0
    stop_min_overlap: int = 10
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> "BackendConfig":
        return from_env(cls, "", overrides, environ)

    def validate(self) -> "BackendConfig":
        """Raise one ``ConfigError`` naming every bad option, at start-up.

        Found at boot, a typo in ``SAMPLER`` is one clear line in the log; found per round, it
        would silently rank the queue at random for every project.
        """
        from llmaaa.active.base import SamplerError, check_spec
        from llmaaa.active.aggregate import REDUCTIONS

        problems = []
        try:
            check_spec(self.sampler)
        except SamplerError as e:
            problems.append(f"SAMPLER={self.sampler!r}: {e}")
        if self.sampler_reduction not in REDUCTIONS:
            problems.append(f"SAMPLER_REDUCTION={self.sampler_reduction!r}: choose one of {', '.join(REDUCTIONS)}")
        if self.predict_on_demand not in PREDICT_MODES:
            problems.append(f"PREDICT_ON_DEMAND={self.predict_on_demand!r}: choose one of {', '.join(PREDICT_MODES)}")
        if not self.predict_llm_deadline_s > 0:
            problems.append(f"PREDICT_LLM_DEADLINE_S={self.predict_llm_deadline_s}: must be above 0")
        for name in ("train_threshold", "llm_batch", "max_text_chars"):
            if getattr(self, name) < 1:
                problems.append(f"{name.upper()}={getattr(self, name)}: must be at least 1")
        for name in ("min_train_labels", "predict_llm_max_tasks", "teacher_k", "keep_prediction_versions",
                     "keep_model_versions", "stop_after_matched", "stop_min_overlap", "lock_wait_s"):  # TEACHER_K=0: zero-shot
            if getattr(self, name) < 0:
                problems.append(f"{name.upper()}={getattr(self, name)}: must not be negative")
        if bool(self.basic_auth_user) != bool(self.basic_auth_pass):
            problems.append("BASIC_AUTH_USER and BASIC_AUTH_PASS must be set together")
        problems += _llm_problems()
        if problems:
            raise ConfigError("invalid backend configuration: " + "; ".join(problems))
        return self

    @property
    def root(self) -> Path:
        return Path(self.model_dir).expanduser().resolve()

    @property
    def auth_enabled(self) -> bool:
        return bool(self.basic_auth_user and self.basic_auth_pass)

    def public(self) -> dict[str, Any]:
        """The config without secrets, for ``/metrics`` and logs."""
        from dataclasses import asdict

        d = asdict(self)
        for k in ("label_studio_api_key", "llm_api_key", "basic_auth_pass"):
            d[k] = "***" if d[k] else None
        return d


def _llm_problems() -> list[str]:
    """Bad ``LLM_*`` options (read per round by the engine), found at start-up like the backend's own."""
    from llmaaa.annotate.client import LLMConfig
    from llmaaa.annotate.teacher import RE_PAIR_MODES

    try:
        llm = from_env(LLMConfig, "LLM_")
    except ConfigError as e:
        return [str(e)]
    if llm.re_pairs not in RE_PAIR_MODES:
        return [f"LLM_RE_PAIRS={llm.re_pairs!r}: choose one of {', '.join(RE_PAIR_MODES)}"]
    return []
