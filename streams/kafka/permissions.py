"""Check, before a process goes ready, that its Kafka principal has what its role needs.

Kafka tells a client what it may do on each resource (KIP-430: the authorized operations in
Metadata and DescribeGroups answers), so a missing ACL is found at start and named in one line,
"the worker may not write credit.decisions (TopicAuthorizationFailed)", rather than found later as
a send that fails, a fetch that retries, or a worker that never finishes starting.

Also here: creating a role's ACLs (``creditstream acls --apply``), and translating kafka-python's
authentication and TLS failures into one line each (``explain_kafka_failure``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError

from schemas.connection import diagnose_connection
from streams.kafka.acls import Grant, Role
from streams.kafka.settings import Settings

__all__ = [
    "KafkaAccessError",
    "PermissionRefusedError",
    "admin_client",
    "apply_grants",
    "check_connection",
    "check_permissions",
    "check_role",
    "explain_kafka_failure",
    "missing_permissions",
]

_VERBS: Final = {
    "READ": "read",
    "WRITE": "write",
    "CREATE": "create",
    "DESCRIBE": "describe",
    "IDEMPOTENT_WRITE": "write idempotently to",
}
_REFUSALS: Final = {
    "topic": "TopicAuthorizationFailed",
    "group": "GroupAuthorizationFailed",
    "cluster": "ClusterAuthorizationFailed",
}
_RESOURCE_TYPES: Final = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.CLUSTER,
}
TOPIC_AUTHORIZATION_FAILED: Final = 29
UNKNOWN_TOPIC: Final = 3


class KafkaAccessError(RuntimeError):
    """Kafka refused this process (no broker, TLS, SASL, or a permission): one line says why."""


class PermissionRefusedError(KafkaAccessError):
    """A principal lacks what its role needs; the message names each resource and operation."""


def check_connection(settings: Settings) -> None:
    """Refuse at once, in one line, what the broker would refuse: no broker, a certificate the CA
    did not sign, a wrong password (kafka-python would retry each for its 30 s bootstrap timeout
    before saying only "Unable to bootstrap")."""
    reason = diagnose_connection(settings.bootstrap_servers, settings.kafka_python_config())
    if reason is not None:
        raise KafkaAccessError(reason)


def admin_client(settings: Settings, client_id: str = "creditstream-admin") -> KafkaAdminClient:
    """An admin client with the settings' security; a refusal is a KafkaAccessError, one line."""
    check_connection(settings)
    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id,
            bootstrap_timeout_ms=10_000,
            **settings.kafka_python_config(),
        )
    except KafkaError as exc:
        raise KafkaAccessError(explain_kafka_failure(settings, exc)) from None


def explain_kafka_failure(settings: Settings, exc: BaseException) -> str:
    """One line for a Kafka failure: the connection's own diagnosis when there is one."""
    reason = diagnose_connection(settings.bootstrap_servers, settings.kafka_python_config())
    return reason or f"Kafka at {settings.bootstrap_servers}: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def check_role(
    settings: Settings, role: Role, grants: list[Grant], internal_topics: Iterable[str] = ()
) -> Iterator[None]:
    """Around a role's set-up (topic creation): a failure there, then any permission the role
    lacks once it is done, is a KafkaAccessError of one line."""
    try:
        yield
    except KafkaError as exc:
        reason = diagnose_connection(settings.bootstrap_servers, settings.kafka_python_config())
        if reason is not None:
            raise KafkaAccessError(reason) from None
        admin = admin_client(settings)
        try:
            problems = missing_permissions(admin, role, grants, internal_topics)
        finally:
            admin.close()
        if not problems:
            raise KafkaAccessError(
                f"Kafka at {settings.bootstrap_servers}: {type(exc).__name__}: {exc}"
            ) from None
        raise PermissionRefusedError(_summary(role, problems)) from None
    admin = admin_client(settings)
    try:
        check_permissions(admin, role, grants, internal_topics)
    finally:
        admin.close()


def _refusal(role: Role, grant: Grant, subject: str | None = None) -> str:
    what = subject or grant.name
    where = {"topic": what, "group": f"group {what}", "cluster": "the cluster"}[grant.kind]
    return f"the {role} may not {_VERBS[grant.operation]} {where} ({_REFUSALS[grant.kind]})"


def missing_permissions(
    admin: KafkaAdminClient, role: Role, grants: Iterable[Grant], internal_topics: Iterable[str] = ()
) -> list[str]:
    """One line per grant that the broker says this principal does not have.

    Topics that do not exist yet are checked by what can be known of them: DESCRIBE (the broker says
    unknown, not unauthorised) and, when the role must create them, nothing more until they exist.
    A prefixed grant is checked on ``internal_topics``, the concrete names it covers."""
    grants = list(grants)
    topic_grants = [g for g in grants if g.kind == "topic"]
    names = sorted({g.name for g in topic_grants if not g.prefixed} | set(internal_topics))
    allowed: dict[str, set[str] | None] = {}  # None: exists unknown, DESCRIBE allowed
    for topic in admin.describe_topics(names) if names else []:
        name = topic.get("name") or topic.get("topic")
        code = topic.get("error_code", 0)
        if code == TOPIC_AUTHORIZATION_FAILED:
            allowed[name] = set()
        elif code == UNKNOWN_TOPIC:
            allowed[name] = None
        else:
            allowed[name] = set(topic.get("authorized_operations") or ())
    problems: list[str] = []
    for grant in topic_grants:
        covered = [n for n in names if n.startswith(grant.name)] if grant.prefixed else [grant.name]
        for name in covered:
            ops = allowed.get(name)
            if ops is None:
                continue  # not created yet: checked once it exists
            if grant.operation not in ops and "ALL" not in ops:
                problems.append(_refusal(role, grant, name))
    for grant in (g for g in grants if g.kind == "group"):
        ops = _group_operations(admin, grant.name)
        if ops is None:
            continue  # no such group yet, and DESCRIBE allowed: READ is known once it exists
        if grant.operation not in ops and "ALL" not in ops:
            problems.append(_refusal(role, grant))
    # Cluster grants (IDEMPOTENT_WRITE) are not checked: Kafka reports a principal's cluster
    # operations only to one that may describe the cluster, which no role here needs.
    return problems


def _group_operations(admin: KafkaAdminClient, group: str, wait_s: float = 15.0) -> set[str] | None:
    """What this principal may do on ``group``; None when the group does not exist yet and its
    offsets may be described (the broker reports operations only on a group that exists)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            described = admin.describe_groups([group], include_authorized_operations=True)
            break
        except KafkaError as exc:
            if "GroupAuthorizationFailed" in type(exc).__name__:
                return set()
            # A new cluster makes its offsets topic on the first FindCoordinator: a few seconds.
            if "CoordinatorNotAvailable" not in type(exc).__name__ or time.monotonic() > deadline:
                raise
            time.sleep(0.25)
    item = described.get(group, {}) if isinstance(described, dict) else {}
    error = str(item.get("error") or "")
    if "GroupAuthorizationFailed" in error:
        return set()
    if "GroupIdNotFound" in error or item.get("authorized_operations") is None:
        try:
            admin.list_group_offsets(group)  # needs DESCRIBE on the group
        except KafkaError as exc:
            if "GroupAuthorizationFailed" in type(exc).__name__:
                return set()
            raise
        return None
    return set(item.get("authorized_operations") or ())


def check_permissions(
    admin: KafkaAdminClient, role: Role, grants: Iterable[Grant], internal_topics: Iterable[str] = ()
) -> None:
    """Raise PermissionRefusedError, one line per missing permission, if any is missing."""
    problems = missing_permissions(admin, role, grants, internal_topics)
    if problems:
        raise PermissionRefusedError(_summary(role, problems))


def _summary(role: Role, problems: list[str], shown: int = 3) -> str:
    """The first few refusals and how many more: one line a person reads to the end."""
    more = len(problems) - shown
    tail = (
        f"; and {more} more (creditstream acls --role {role} lists what the role needs)" if more > 0 else ""
    )
    return "; ".join(problems[:shown]) + tail


def apply_grants(admin: KafkaAdminClient, principal: str, grants: Iterable[Grant]) -> int:
    """Create the ACLs (allow, any host) for ``principal``; creating an existing one is a no-op.
    Returns how many were asked for."""
    acls = [
        ACL(
            principal=principal,
            host="*",
            operation=ACLOperation[grant.operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                _RESOURCE_TYPES[grant.kind],
                grant.name,
                ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL,
            ),
        )
        for grant in grants
    ]
    result: Mapping[str, Any] = admin.create_acls(acls)
    failed = result.get("failed") or []
    if failed:
        raise PermissionRefusedError(
            "could not create ACLs: " + "; ".join(f"{acl.resource_pattern} {err}" for acl, err in failed)
        )
    return len(acls)
