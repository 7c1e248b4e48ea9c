"""`creditstream acls`: each role's ACLs from the topic catalogue, printed, and created with --apply.

The topic prefix and app id come from the same settings the worker reads (CREDITSTREAM_TOPIC_PREFIX,
CREDITSTREAM_APP_ID, CREDITSTREAM_WORKER_CREATES_TOPICS); --apply connects with the KAFKA_* settings,
which must be an administrator's (deploy/kafka/start --secure writes secure/admin.env).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streams.kafka.acls import ROLES, Grant, Role, grants_for
from streams.kafka.admin import ensure_deployed_topics
from streams.kafka.permissions import admin_client, apply_grants
from streams.kafka.settings import Settings

__all__ = ["AclsError", "plan_acls", "principals_of", "run_acls"]


class AclsError(ValueError):
    """A role or principal given on the command line is not right; the message says which."""


def principals_of(roles: Sequence[str], given: Sequence[str]) -> dict[Role, str]:
    """The principal of each chosen role: User:ROLE unless ``given`` says ROLE=User:NAME."""
    chosen: list[Role] = []
    for name in roles or ROLES:
        if name not in ROLES:
            raise AclsError(f"--role {name!r} is not one of {', '.join(ROLES)}")
        chosen.append(name)
    principals: dict[Role, str] = {role: f"User:{role}" for role in chosen}
    for item in given:
        role, sep, principal = item.partition("=")
        if not sep or role not in ROLES or not principal.startswith("User:") or len(principal) <= 5:
            raise AclsError(f"--principal {item!r} is not ROLE=User:NAME with ROLE one of {', '.join(ROLES)}")
        if role in principals:
            principals[role] = principal
    return principals


def plan_acls(settings: Settings, principals: dict[Role, str], challenger: bool) -> dict[Role, list[Grant]]:
    return {
        role: grants_for(
            role,
            topic_prefix=settings.topic_prefix,
            app_id=settings.app_id,
            with_challenger=challenger,
            worker_creates_topics=settings.worker_creates_topics,
        )
        for role in principals
    }


def run_acls(
    settings: Settings,
    roles: Sequence[str],
    given_principals: Sequence[str],
    *,
    apply: bool,
    create_topics: bool,
    challenger: bool,
    echo: Callable[[str], object] = print,
) -> int:
    """Print the plan (through ``echo``); with ``apply``, create the topics (if asked) and the
    ACLs. Returns how many ACLs there are."""
    say = echo
    principals = principals_of(roles, given_principals)
    plan = plan_acls(settings, principals, challenger)
    total = 0
    for role, grants in plan.items():
        say(f"{role} ({principals[role]}):")
        for grant in grants:
            say(f"  ALLOW {grant.describe()}")
        total += len(grants)
    if not apply:
        return total
    if create_topics:
        created = ensure_deployed_topics(settings, with_challenger=challenger)
        say(f"acls: created topics {', '.join(created) or '(none missing)'}")
    admin = admin_client(settings)
    try:
        for role, grants in plan.items():
            apply_grants(admin, principals[role], grants)
    finally:
        admin.close()
    say(f"acls: {total} ACLs in place for {', '.join(principals.values())} on {settings.bootstrap_servers}")
    return total
