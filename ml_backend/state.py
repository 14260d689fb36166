"""One project's state under ``MODEL_DIR/<project>/``: SQLite (WAL) records plus model-version folders.

Why SQLite first: a webhook is written here before it is answered, so an annotation Label Studio
sent is never lost, even when the process is killed a millisecond later. A job left ``running``
by a crash is marked ``interrupted`` and queued again when the state is next opened.

Layout::

    state.db                 tasks, annotations (human = gold), unreviewed, llm_labels, predictions, jobs,
                             rounds, meta
    models/<version>/        a student (``save_model_version``), published by rename
    current                  the served version's name (written atomically)

Read API for the report page and ``/metrics``: :meth:`ProjectState.summary`, :meth:`rounds`,
:meth:`label_counts`, :meth:`jobs`, :meth:`queue_head`. The jobs and rounds tables' queries are
:class:`~ml_backend.job_log.JobLog`; the lock on the whole ``MODEL_DIR`` is :mod:`ml_backend.model_dir_lock`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ml_backend.job_log import JobLog
from ml_backend.task_keys import GIVEN_FORMAT, GivenKeys, given_fingerprint, given_key

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, text TEXT NOT NULL, data TEXT, seen_at REAL);
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, result TEXT NOT NULL, deleted INTEGER DEFAULT 0,
    seq INTEGER NOT NULL, updated_at REAL);
CREATE INDEX IF NOT EXISTS annotations_task ON annotations(task_id);
CREATE INDEX IF NOT EXISTS annotations_seq ON annotations(seq);  -- MAX(seq) per recorded annotation
-- annotations Label Studio made from predictions nobody opened: counted, never gold (sync.made_from_prediction_unopened)
CREATE TABLE IF NOT EXISTS unreviewed (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, updated_at REAL);
CREATE TABLE IF NOT EXISTS llm_labels (
    task_id INTEGER PRIMARY KEY, example TEXT NOT NULL, model TEXT, round INTEGER, error TEXT, created_at REAL);
CREATE TABLE IF NOT EXISTS predictions (
    task_id INTEGER PRIMARY KEY, version TEXT NOT NULL, source TEXT NOT NULL, score REAL, body TEXT NOT NULL,
    created_at REAL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
    created_at REAL, started_at REAL, finished_at REAL, error TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS rounds (n INTEGER PRIMARY KEY, version TEXT, finished_at REAL, record TEXT NOT NULL);
"""
# Columns added since the first release, to an older state.db when it is opened. NULL in an old row:
# predictions.config, written before predictions recorded their label config (counts as current);
# tasks.given, filled from each task's recorded data when the database is opened (see ``given_fingerprint``).
ADDED_COLUMNS = (("predictions", "config"), ("tasks", "given"))
def _data_json(data: Any) -> str:
    """Task data as stored: readable UTF-8, or with its lone surrogates (a broken emoji in a field besides the
    text, which SQLite cannot store as UTF-8) escaped, rather than failing the whole /predict batch."""
    out = json.dumps(data, ensure_ascii=False)
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data)
    return out


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class StateError(RuntimeError):
    """A project's state database cannot be opened (corrupt, truncated, unreadable); other projects are served."""


class ProjectState(JobLog):
    """Thread-safe access to one project's records (one connection, one lock: queries take microseconds)."""

    def __init__(self, root: str | Path, project_id: str | int, *, given_keys: GivenKeys | None = None) -> None:
        """``given_keys``: the ``given_key`` of each ``(text, data)`` task's pool example under the current label
        config, None where it cannot be read (no config yet); without it (an export, a script) an LLM label
        counts as current while it was made for its task's text."""
        self.project_id = str(project_id)
        self._given_keys = given_keys
        self.dir = Path(root) / self.project_id
        (self.dir / "models").mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        path = self.dir / "state.db"
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            for table, column in ADDED_COLUMNS:
                if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
            if self.get_meta("tasks_given") != GIVEN_FORMAT:
                try:
                    self._fingerprint_tasks()
                except sqlite3.OperationalError as e:  # read-only, or locked past the timeout: unknown = unchanged
                    log.warning("project %s: task fingerprints not written (%s); a task's edited entities are told "
                                "once it is recorded again", self.project_id, e)
        except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
            raise StateError(f"project {self.project_id}: its state database {path} cannot be read ({e}); restore it "
                             f"from a backup, or move the folder {self.dir} away to start that project afresh") from None

    def _fingerprint_tasks(self) -> None:
        """Write every task's ``given_fingerprint`` from its recorded data, once per state (see ``GIVEN_FORMAT``).

        Without it a task recorded by an older version would count as unchanged until recorded again, and
        /predict, which records no task it serves a stored prediction for, would never see its entities edited.
        """
        with self.transaction(immediate=True):  # read and write at once: no task recorded meanwhile is reverted
            if self.get_meta("tasks_given") == GIVEN_FORMAT:  # another process opening it did it first
                return
            rows = [(given_fingerprint(json.loads(d) if d is not None else None), i)
                    for i, d in self._db.execute("SELECT id, data FROM tasks")]
            self._db.executemany("UPDATE tasks SET given = ? WHERE id = ?", rows)
            self.set_meta("tasks_given", GIVEN_FORMAT)

    # -- plumbing --------------------------------------------------------------------------
    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.transaction():
            self._db.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self, *, immediate: bool = False) -> Iterator[None]:
        """Writes inside are one commit (nested: part of the outer one); ``immediate``: takes the write lock first.

        A bulk webhook (thousands of annotations converted from predictions) is then one commit
        instead of one per annotation, and lands whole or not at all.
        """
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._q("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        self._q("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False)))

    # -- tasks -----------------------------------------------------------------------------
    def upsert_tasks(self, tasks: Iterable[tuple[int, str, Mapping[str, Any] | None]]) -> None:
        """Record tasks; a task whose text, given entities or pairs changed (edited in Label Studio) loses its
        stored prediction.

        That prediction's offsets point into the old text, or its relations join the old entities; /predict
        then answers on demand and the next round labels the task again (its LLM label is stale too:
        ``llm_labels(current=True)``). Other data fields (metadata, an image) change neither.
        """
        now = time.time()
        rows = [(int(i), t, _data_json(d) if d is not None else None, now, given_fingerprint(d))
                for i, t, d in tasks]
        with self._lock:
            self._many("DELETE FROM predictions WHERE task_id IN (SELECT id FROM tasks WHERE id = ? AND "
                       "(text != ? OR given != ?))", [(i, t, g) for i, t, _, _, g in rows])  # NULL: unknown, kept
            self._many("INSERT INTO tasks(id, text, data, seen_at, given) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET text=excluded.text, data=excluded.data, given=excluded.given",
                       rows)

    def delete_tasks(self, task_ids: Iterable[int]) -> int:
        """Forget tasks deleted in Label Studio; returns how many we knew.

        Their prediction and LLM label go (a prediction pushed for a missing task makes Label Studio
        refuse the whole batch); their annotations, deleted with them there, are marked deleted here.
        """
        ids = [int(i) for i in task_ids]
        with self._lock:
            known = [i for i in ids if self._q("SELECT 1 FROM tasks WHERE id=?", (i,))]
            live = [r["id"] for i in ids for r in self._q("SELECT id FROM annotations WHERE task_id=? AND deleted=0", (i,))]
            if live:
                self.delete_annotations(live)
            self._many("DELETE FROM predictions WHERE task_id=?", [(i,) for i in ids])
            self._many("DELETE FROM unreviewed WHERE task_id=?", [(i,) for i in ids])
            self._many("DELETE FROM llm_labels WHERE task_id=?", [(i,) for i in ids])
            self._many("DELETE FROM tasks WHERE id=?", [(i,) for i in ids])
        return len(known)

    def tasks(self) -> dict[int, str]:
        return {r["id"]: r["text"] for r in self._q("SELECT id, text FROM tasks ORDER BY id")}

    def task_data(self) -> dict[int, Any]:
        """The task data dicts Label Studio sent (for fields beyond the text, e.g. given ``entities``)."""
        return {r["id"]: json.loads(r["data"]) for r in self._q("SELECT id, data FROM tasks WHERE data IS NOT NULL")}

    # -- human annotations (gold) -------------------------------------------------------------
    def _next_seq(self) -> int:
        return int(self._q("SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM annotations")[0]["s"])

    def record_annotation(self, annotation_id: int, task_id: int, result: Any, *, text: str | None = None,
                          data: Mapping[str, Any] | None = None) -> None:
        """Store (or replace) one human annotation; called before the webhook is answered."""
        self.record_annotations([(annotation_id, task_id, result, text, data)])

    def record_annotations(self, items: Sequence[tuple[int, int, Any, str | None, Mapping[str, Any] | None]]) -> None:
        """Store (or replace) ``(annotation id, task id, result, text, data)`` annotations in one commit.

        A ``text`` records its task too (or updates it). Each annotation takes the next sequence number,
        in order. Batched, because Label Studio sends up to 5,000 at once and waits 1 s for the answer.
        """
        now = time.time()
        with self.transaction():
            tasks = [(task_id, text, data) for _, task_id, _, text, data in items if text is not None]
            if tasks:
                self.upsert_tasks(tasks)
            seq = self._next_seq()
            self._db.executemany("DELETE FROM unreviewed WHERE id = ?", [(int(a),) for a, *_ in items])
            self._db.executemany(
                "INSERT INTO annotations(id, task_id, result, deleted, seq, updated_at) VALUES (?, ?, ?, 0, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET task_id=excluded.task_id, result=excluded.result, deleted=0, "
                "seq=excluded.seq, updated_at=excluded.updated_at",
                [(int(a), int(t), json.dumps(r, ensure_ascii=False), seq + i, now) for i, (a, t, r, _, _) in enumerate(items)])

    def record_unreviewed(self, items: Sequence[tuple[int, int]]) -> None:
        """``(annotation id, task id)`` of annotations made from predictions nobody opened: counted, not gold.

        One that was recorded as gold before (a state from an older version, or an edit undone) stops
        being gold; the task's LLM label stays what the student trains on. A human who later opens
        and submits it sends it again with a ``lead_time``, and ``record_annotations`` makes it gold.
        """
        now = time.time()
        ids = [int(a) for a, _ in items]
        with self.transaction():
            live = [i for i in ids if self._q("SELECT 1 FROM annotations WHERE id=? AND deleted=0", (i,))]
            if live:
                self.delete_annotations(live)
            self._db.executemany("INSERT OR REPLACE INTO unreviewed(id, task_id, updated_at) VALUES (?, ?, ?)",
                                 [(int(a), int(t), now) for a, t in items])

    def unreviewed_ids(self) -> set[int]:
        return {r["id"] for r in self._q("SELECT id FROM unreviewed")}

    def delete_annotations(self, annotation_ids: Iterable[int]) -> int:
        ids = [int(i) for i in annotation_ids]
        with self._lock:
            self._many("DELETE FROM unreviewed WHERE id = ?", [(i,) for i in ids])
            seq = self._next_seq()
            for i in ids:
                self._q("UPDATE annotations SET deleted=1, seq=?, updated_at=? WHERE id=?", (seq, time.time(), i))
        return len(ids)

    def annotations(self, *, every: bool = False) -> list[dict[str, Any]]:
        """The newest live annotation per task: ``{task_id, annotation_id, text, result}``; ``every``: all live
        annotations, oldest first per task (several annotators on one task: the re-import file keeps each)."""
        rows = self._q(
            "SELECT a.id, a.task_id, a.result, t.text FROM annotations a JOIN tasks t ON t.id = a.task_id "
            "WHERE a.deleted = 0 ORDER BY a.task_id, a.updated_at")
        chosen = rows if every else list({r["task_id"]: r for r in rows}.values())
        return [{"task_id": r["task_id"], "annotation_id": r["id"], "text": r["text"], "result": json.loads(r["result"])}
                for r in chosen]

    def annotation_seq(self) -> int:
        return self._next_seq() - 1

    def new_human_labels(self) -> int:
        """Annotations created, updated or deleted since the last round started."""
        since = int(self.get_meta("trained_seq", 0))
        return int(self._q("SELECT COUNT(*) AS n FROM annotations WHERE seq > ?", (since,))[0]["n"])

    # -- LLM labels ------------------------------------------------------------------------
    def save_llm_labels(self, examples: Iterable[Mapping[str, Any]], round_: int) -> None:
        """``examples``: ``Example.to_dict()`` records whose id is the task id (provenance in ``annotation``)."""
        now = time.time()
        self._many("INSERT OR REPLACE INTO llm_labels(task_id, example, model, round, error, created_at) VALUES (?,?,?,?,?,?)",
                   [(int(d["id"]), json.dumps(d, ensure_ascii=False), (d.get("annotation") or {}).get("model"), round_,
                     (d.get("annotation") or {}).get("error"), now) for d in examples])

    def llm_labels(self, *, current: bool = False) -> list[dict[str, Any]]:
        """The LLM's examples by task id; ``current``: only those of known tasks made for the task's text as it is
        now and, where the current label config reads given entities from the task, for those (``given_key``).

        A task edited in Label Studio after the LLM labeled it keeps a label whose offsets point into
        the old text, or whose relations join entities since moved or relabeled: served, exported or
        trained on as this task's label it marks the wrong characters or relations. The entities are read
        now, not when the task was recorded: after a config edit (a label alias added) a label made under
        the new config is current, and one made under the old is while the task reads the same. A config
        that reads no given entities (no ``<Relations>``: ``given_keys`` says None) keeps every label made for the
        text, as before.
        """
        if not current:
            return [json.loads(r["example"]) for r in self._q("SELECT example FROM llm_labels ORDER BY task_id")]
        rows = self._q("SELECT l.example, t.text, t.given, CASE WHEN t.given = '' THEN NULL ELSE t.data END AS data "
                       "FROM llm_labels l JOIN tasks t ON t.id = l.task_id ORDER BY l.task_id")
        labels = [(d, r) for r in rows if (d := json.loads(r["example"])).get("text") == r["text"]]
        # read only the tasks whose data holds entities or pairs, or whose label was made for given ones (they may
        # have been removed since): the others' pool examples ask the text alone, as their labels did
        asked = [k for k, (d, r) in enumerate(labels) if r["given"] != "" or d.get("given_entities")]
        if self._given_keys is None or not asked:
            return [d for d, _ in labels]
        keys = self._given_keys([(labels[k][1]["text"], json.loads(labels[k][1]["data"] or "null")) for k in asked])
        stale = {k for k, key in zip(asked, keys) if key is not None and key != given_key(labels[k][0])}
        return [d for k, (d, _) in enumerate(labels) if k not in stale]

    def llm_label_ids(self, round_: int) -> list[int]:
        """The tasks round ``round_``'s LLM batch labeled or failed on (a crashed attempt's batch, when that
        round is not recorded)."""
        return [r["task_id"] for r in self._q("SELECT task_id FROM llm_labels WHERE round = ? ORDER BY task_id",
                                              (round_,))]

    def llm_label_rounds(self) -> dict[int, int]:
        """Task id -> the round whose LLM batch labeled it (successful labels only)."""
        return {r["task_id"]: r["round"] for r in self._q("SELECT task_id, round FROM llm_labels WHERE error IS NULL")}

    # -- predictions -----------------------------------------------------------------------
    def save_predictions(self, items: Iterable[tuple[int, str, str, float | None, Mapping[str, Any]]],
                         config: str | None = None) -> None:
        """``(task_id, version, source, score, body)``; body is the /predict element served for the task, written
        for the label config whose ``config_hash`` is ``config`` (its from_name, to_name and labels)."""
        now = time.time()
        self._many("INSERT OR REPLACE INTO predictions(task_id, version, source, score, body, created_at, config) "
                   "VALUES (?,?,?,?,?,?,?)",
                   [(int(t), v, s, sc, json.dumps(b, ensure_ascii=False), now, config) for t, v, s, sc, b in items])

    def predictions_for(self, task_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not task_ids:
            return {}
        marks = ",".join("?" * len(task_ids))
        rows = self._q(f"SELECT task_id, body FROM predictions WHERE task_id IN ({marks})", [int(t) for t in task_ids])
        return {r["task_id"]: json.loads(r["body"]) for r in rows}

    def prediction_json_for(self, texts: Mapping[int, str], config: str | None = None, *,
                            skip_sources: tuple[str, ...] = (),
                            data: Mapping[int, Any] | None = None) -> dict[int, str]:
        """The stored /predict elements as the JSON text written with them (the hot read path), by task id.

        Only for tasks whose recorded text is ``texts[id]`` and, with ``data``, whose recorded entities and pairs
        are ``data[id]``'s (``given_fingerprint``: their raw JSON, no label config read): a task Label Studio
        sends with another text, or other given entities or pairs, was edited, and its prediction's offsets
        point into the old text, its relations join the old entities. With ``config``, only those written for
        that label config: after the config is edited, a stored body may name a control, an object or a label
        the project no longer has (Label Studio rejects the whole batch then).
        ``skip_sources``: rows of those sources count as none (``"none"``: a cold start's queue place
        with no labels in it, which an on-demand LLM call can do better than).
        """
        if not texts:
            return {}
        marks = ",".join("?" * len(texts))
        with self._lock:
            rows = self._db.execute(f"SELECT p.task_id, p.body, t.text, p.config, p.source, t.given FROM predictions p "
                                    f"JOIN tasks t ON t.id = p.task_id WHERE p.task_id IN ({marks})",
                                    [int(t) for t in texts]).fetchall()
        return {r[0]: r[1] for r in rows if r[2] == texts[r[0]] and (config is None or r[3] in (None, config))
                and r[4] not in skip_sources
                and (data is None or r[5] is None or given_fingerprint(data.get(r[0])) == r[5])}

    def queue_head(self, n: int = 10) -> list[dict[str, Any]]:
        """The tasks Label Studio serves next: lowest score first, annotated tasks left out."""
        rows = self._q(
            "SELECT p.task_id, p.score, p.source, t.text FROM predictions p JOIN tasks t ON t.id = p.task_id "
            "WHERE p.task_id NOT IN (SELECT task_id FROM annotations WHERE deleted = 0) ORDER BY p.score, p.task_id LIMIT ?",
            (n,))
        return [dict(r) for r in rows]

    # -- versions --------------------------------------------------------------------------
    @property
    def current_version(self) -> str | None:
        p = self.dir / "current"
        return p.read_text(encoding="utf-8").strip() or None if p.exists() else None

    def publish_version(self, version: str) -> None:
        write_text_atomic(self.dir / "current", version)

    def model_path(self, version: str) -> Path:
        return self.dir / "models" / version

    def label_counts(self) -> dict[str, int]:
        """Examples labeled by each source: human (gold), llm (teacher), student (predictions served), and
        ``unreviewed``: tasks whose only annotation was made from a prediction nobody opened (not gold)."""
        human = self._q("SELECT COUNT(DISTINCT task_id) AS n FROM annotations WHERE deleted=0")[0]["n"]
        llm = self._q("SELECT COUNT(*) AS n FROM llm_labels WHERE error IS NULL")[0]["n"]
        student = self._q("SELECT COUNT(*) AS n FROM predictions WHERE source='student'")[0]["n"]
        unreviewed = self._q("SELECT COUNT(DISTINCT task_id) AS n FROM unreviewed WHERE task_id NOT IN "
                             "(SELECT task_id FROM annotations WHERE deleted=0)")[0]["n"]
        return {"human": int(human), "llm": int(llm), "student": int(student), "unreviewed": int(unreviewed)}

    def summary(self) -> dict[str, Any]:
        """Everything ``/metrics`` and the report page show, in one read."""
        jobs = self.jobs(5)
        return {
            "project": self.project_id,
            "model_version": self.current_version,
            "tasks": int(self._q("SELECT COUNT(*) AS n FROM tasks")[0]["n"]),
            "labels": self.label_counts(),
            "new_human_labels": self.new_human_labels(),
            "rounds": len(self.rounds()),
            "jobs": {s: int(n) for s, n in self._q("SELECT status, COUNT(*) FROM jobs GROUP BY status")},
            "last_job": jobs[0] if jobs else None,
        }
