"""`creditstream worker`: settings from the environment, topics from the catalogue, then Faust."""

from __future__ import annotations

import dataclasses

from streams.engine import ENGINE
from streams.kafka.acls import grants_for, internal_topics
from streams.kafka.admin import ensure_deployed_topics
from streams.kafka.permissions import check_connection, check_role
from streams.kafka.settings import Settings, SettingsError
from streams.policy import Policy, load_policy
from streams.worker.app import create_app
from streams.worker.memory import MemoryBudget
from streams.worker.process import CreditWorker
from streams.worker.timeline import record_timeline

__all__ = ["Prepared", "prepare", "run_worker"]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What the worker needs before Faust starts, and the topics it had to create (logged at start)."""

    policy: Policy
    challenger: Policy | None
    created_topics: list[str]


def prepare(settings: Settings) -> Prepared:
    """Load the policies, create the topics and check the worker's permissions; raises PolicyError,
    SettingsError, CoPartitioningError, PermissionRefusedError (a missing ACL: never ready)."""
    settings.check_web_exposure()
    _check_state_dir(settings)
    policy = load_policy(settings.policy_path)
    challenger = load_policy(settings.challenger_policy_path) if settings.challenger_policy_path else None
    grants = grants_for(
        "worker",
        topic_prefix=settings.topic_prefix,
        app_id=settings.app_id,
        with_challenger=challenger is not None,
        worker_creates_topics=settings.worker_creates_topics,
    )
    check_connection(settings)
    with check_role(settings, "worker", grants, internal_topics(settings.app_id)):
        created = ensure_deployed_topics(
            settings, with_challenger=challenger is not None, create=settings.worker_creates_topics
        )
    return Prepared(policy, challenger, created)


def _check_state_dir(settings: Settings) -> None:
    """The state directory must be creatable and writable: RocksDB cannot run otherwise."""
    directory = settings.state_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(
            f"CREDITSTREAM_STATE_DIR={str(directory)!r} is not a writable directory: {exc.strerror or exc}"
        ) from None


def run_worker(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; Faust commits offsets and flushes the table on the way out."""
    timeline = settings.timeline_path
    if timeline is not None:  # diagnosis: where records wait (streams.worker.timeline)
        try:
            record_timeline(timeline)
        except OSError as exc:
            raise SettingsError(
                f"CREDITSTREAM_TIMELINE={str(timeline)!r} cannot be written: {exc.strerror or exc}"
            ) from None
    prepared = prepare(settings)
    policy, challenger = prepared.policy, prepared.challenger
    parts = create_app(settings, policy, challenger)
    challenging = f", challenger {challenger.version} in shadow mode" if challenger else ""
    # Logged once faust has set up logging: before that, INFO went nowhere.
    first_lines = [f"created topics: {', '.join(prepared.created_topics)}"] if prepared.created_topics else []
    first_lines.append(
        f"creditstream worker {settings.app_id}: policy {policy.version}{challenging}, "
        # compiled or plain Python (streams.engine.compiled): whether a compiled build was picked up
        f"engine {ENGINE}, web on http://{settings.web_host}:{settings.web_port}"
    )
    first_lines.append(
        MemoryBudget.split(settings.memory_mb, settings.partitions, settings.state_cache_users).describe()
    )
    CreditWorker(
        parts.app, loglevel=settings.log_level.lower(), redirect_stdouts=False, first_lines=first_lines
    ).execute_from_commandline()
