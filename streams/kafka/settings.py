"""Worker settings from the environment, with documented defaults.

Every setting is an environment variable; a bad value fails at start with a message naming the
variable, the value and what is expected. Security settings are passed through to both Kafka
clients (aiokafka inside Faust, kafka-python for topic admin).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

__all__ = ["ENVIRONMENT", "Settings", "SettingsError", "aiokafka_options"]

# name -> (default, meaning): the single table of settings the README documents.
ENVIRONMENT: Final[dict[str, tuple[str, str]]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("127.0.0.1:9092", "Kafka bootstrap servers, comma separated host:port"),
    "KAFKA_SECURITY_PROTOCOL": ("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    "KAFKA_SASL_MECHANISM": ("", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)"),
    "KAFKA_SASL_USERNAME": ("", "SASL user name"),
    "KAFKA_SASL_PASSWORD": ("", "SASL password (or KAFKA_SASL_PASSWORD_FILE)"),
    "KAFKA_SASL_PASSWORD_FILE": (
        "",
        "a file holding the SASL password, as mounted secrets arrive (one of this or KAFKA_SASL_PASSWORD)",
    ),
    "KAFKA_SSL_CAFILE": ("", "CA bundle to verify the brokers (SSL, SASL_SSL); system CAs when empty"),
    "KAFKA_SSL_CERTFILE": ("", "client certificate for mutual TLS"),
    "KAFKA_SSL_KEYFILE": ("", "client private key for mutual TLS"),
    "CREDITSTREAM_APP_ID": ("creditstream", "consumer group id and prefix of the table's changelog topic"),
    "CREDITSTREAM_TOPIC_PREFIX": ("", "prefix for every topic name (isolates environments on one cluster)"),
    "CREDITSTREAM_PARTITIONS": ("8", "partitions of every topic (all co-partitioned)"),
    "CREDITSTREAM_REPLICATION_FACTOR": ("1", "replication factor of created topics"),
    "CREDITSTREAM_STORE": ("rocksdb", "table store: rocksdb (durable, on disk) or memory"),
    "CREDITSTREAM_STATE_DIR": (".cache/state", "where the worker keeps its RocksDB tables"),
    "CREDITSTREAM_WEB_HOST": ("127.0.0.1", "address the web endpoints listen on (0.0.0.0 in a container)"),
    "CREDITSTREAM_WEB_PORT": ("6066", "port of /users/{id}, /health, /ready, /metrics"),
    "CREDITSTREAM_POLICY": ("", "policy TOML file; the packaged default policy when empty"),
    "CREDITSTREAM_CHALLENGER_POLICY": (
        "",
        "shadow mode: a challenger policy decided on live traffic, never applied",
    ),
    "CREDITSTREAM_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "CREDITSTREAM_INSTANCE_ID": (
        "",
        "static group membership: a name unique to this worker (e.g. its pod name); a restart "
        "within the session timeout gets its partitions back at once, without a rebalance",
    ),
    "CREDITSTREAM_API_TOKEN": (
        "",
        "bearer token that GET /users/{id} and POST /v1/decisions require; without one the worker "
        "binds only to loopback",
    ),
    "CREDITSTREAM_API_TOKEN_FILE": (
        "",
        "a file holding the bearer token (one of this or CREDITSTREAM_API_TOKEN)",
    ),
    "CREDITSTREAM_WORKER_CREATES_TOPICS": (
        "true",
        "whether the worker creates missing catalogue topics at start (its ACLs then include CREATE); "
        "false where an administrator creates them (creditstream acls --no-worker-creates-topics)",
    ),
    "CREDITSTREAM_RECORD_RETENTION_DAYS": (
        "1830",
        "retention of created input, decision, change and dead-letter topics: the lender's records",
    ),
    "CREDITSTREAM_STANDBY_REPLICAS": (
        "1",
        "standby copies of each table partition kept on other workers: a failover reads no changelog",
    ),
    "CREDITSTREAM_COMMIT_INTERVAL_SECONDS": (
        "2.8",
        "how often input offsets are committed; a crash redelivers at most this much, "
        "and applies none of it twice",
    ),
    "CREDITSTREAM_SESSION_TIMEOUT_SECONDS": (
        "10",
        "how long the group waits for a silent worker before moving its partitions elsewhere",
    ),
    "CREDITSTREAM_MEMORY_MB": (
        "512",
        "the worker's memory for what grows with its users: 40% one RocksDB block cache shared by "
        "every table partition, 25% the memtables of all of them, 35% the decoded-state cache "
        "(streams/worker/memory.py). 512 fits a 1 GiB container",
    ),
    "CREDITSTREAM_STATE_CACHE_USERS": (
        "",
        "decoded states kept in memory for the users most recently applied, about 20 KB each "
        "(0: none); a user's next event then skips the store read and decode. Default: 35% of "
        "CREDITSTREAM_MEMORY_MB (about 9,000 users at 512)",
    ),
    "CREDITSTREAM_PRODUCER_LINGER_MS": (
        "5",
        "how long the worker's producer gathers records into one request to Kafka; fewer, larger "
        "requests cost the worker less per event. A batch's outputs are sent when the batch is done, "
        "whatever is left of the linger",
    ),
    "CREDITSTREAM_PRODUCER_BATCH_BYTES": (
        "524288",
        "the most the worker's producer gathers for one partition before a send waits for Kafka; a "
        "batch's changelog writes (about 3 KB a user) then go out without waiting. Keep it under the "
        "topics' max.message.bytes (Kafka's default: 1 MB)",
    ),
    "CREDITSTREAM_TIMELINE": (
        "",
        "diagnosis only: a file the worker appends its main thread's timeline to "
        "(streams.worker.timeline; read by python -m streams.tools.bench.timeline); none when empty",
    ),
}

N = TypeVar("N", int, float)
_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: str = field(repr=False)
    ssl_cafile: Path | None
    ssl_certfile: Path | None
    ssl_keyfile: Path | None
    app_id: str
    topic_prefix: str
    partitions: int
    replication_factor: int
    store: str
    state_dir: Path
    web_host: str
    web_port: int
    policy_path: Path | None
    challenger_policy_path: Path | None
    log_level: str
    instance_id: str = ""
    session_timeout_seconds: int = 10
    commit_interval_seconds: float = 2.8
    api_token: str = field(default="", repr=False)
    record_retention_days: int = 1830
    standby_replicas: int = 1
    memory_mb: int = 512
    state_cache_users: int | None = None  # None: the memory budget's share
    producer_linger_ms: int = 5
    producer_batch_bytes: int = 512 * 1024
    timeline_path: Path | None = None
    worker_creates_topics: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, ENVIRONMENT[name][0]).strip()

        def secret(name: str) -> str:
            """A secret from NAME, or from the file NAME_FILE names (a mounted secret)."""
            value, path = get(name), get(f"{name}_FILE")
            if value and path:
                raise SettingsError(f"set one of {name} and {name}_FILE, not both")
            if not path:
                return value
            try:
                return Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise SettingsError(f"{name}_FILE={path!r} cannot be read: {reason}") from None

        protocol = _choice("KAFKA_SECURITY_PROTOCOL", get("KAFKA_SECURITY_PROTOCOL").upper(), _PROTOCOLS)
        mechanism = get("KAFKA_SASL_MECHANISM").upper()
        password = secret("KAFKA_SASL_PASSWORD")
        if protocol.startswith("SASL_"):
            _choice("KAFKA_SASL_MECHANISM", mechanism, _MECHANISMS)
            if not get("KAFKA_SASL_USERNAME"):
                raise SettingsError(
                    f"KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL={protocol}"
                )
            if not password:
                raise SettingsError(
                    f"KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required when "
                    f"KAFKA_SECURITY_PROTOCOL={protocol}"
                )
        servers = get("KAFKA_BOOTSTRAP_SERVERS")
        for server in servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(f"KAFKA_BOOTSTRAP_SERVERS: {server!r} is not host:port (got {servers!r})")
        return cls(
            bootstrap_servers=servers,
            security_protocol=protocol,
            sasl_mechanism=mechanism,
            sasl_username=get("KAFKA_SASL_USERNAME"),
            sasl_password=password,
            ssl_cafile=_existing_file("KAFKA_SSL_CAFILE", get("KAFKA_SSL_CAFILE")),
            ssl_certfile=_existing_file("KAFKA_SSL_CERTFILE", get("KAFKA_SSL_CERTFILE")),
            ssl_keyfile=_existing_file("KAFKA_SSL_KEYFILE", get("KAFKA_SSL_KEYFILE")),
            app_id=_identifier("CREDITSTREAM_APP_ID", get("CREDITSTREAM_APP_ID")),
            topic_prefix=get("CREDITSTREAM_TOPIC_PREFIX"),
            partitions=_integer("CREDITSTREAM_PARTITIONS", get("CREDITSTREAM_PARTITIONS"), 1, 10_000),
            replication_factor=_integer(
                "CREDITSTREAM_REPLICATION_FACTOR", get("CREDITSTREAM_REPLICATION_FACTOR"), 1, 32
            ),
            store=_choice("CREDITSTREAM_STORE", get("CREDITSTREAM_STORE").lower(), ("rocksdb", "memory")),
            state_dir=Path(get("CREDITSTREAM_STATE_DIR")),
            web_host=get("CREDITSTREAM_WEB_HOST"),
            web_port=_integer("CREDITSTREAM_WEB_PORT", get("CREDITSTREAM_WEB_PORT"), 1, 65535),
            policy_path=_existing_file("CREDITSTREAM_POLICY", get("CREDITSTREAM_POLICY")),
            challenger_policy_path=_existing_file(
                "CREDITSTREAM_CHALLENGER_POLICY", get("CREDITSTREAM_CHALLENGER_POLICY")
            ),
            log_level=_choice("CREDITSTREAM_LOG_LEVEL", get("CREDITSTREAM_LOG_LEVEL").upper(), _LEVELS),
            instance_id=_identifier(
                "CREDITSTREAM_INSTANCE_ID", get("CREDITSTREAM_INSTANCE_ID"), empty_ok=True
            ),
            session_timeout_seconds=_integer(
                "CREDITSTREAM_SESSION_TIMEOUT_SECONDS", get("CREDITSTREAM_SESSION_TIMEOUT_SECONDS"), 6, 300
            ),
            api_token=_api_token(secret("CREDITSTREAM_API_TOKEN")),
            worker_creates_topics=_flag(
                "CREDITSTREAM_WORKER_CREATES_TOPICS", get("CREDITSTREAM_WORKER_CREATES_TOPICS")
            ),
            record_retention_days=_integer(
                "CREDITSTREAM_RECORD_RETENTION_DAYS", get("CREDITSTREAM_RECORD_RETENTION_DAYS"), 1, 36_500
            ),
            standby_replicas=_integer(
                "CREDITSTREAM_STANDBY_REPLICAS", get("CREDITSTREAM_STANDBY_REPLICAS"), 0, 10
            ),
            commit_interval_seconds=_seconds(
                "CREDITSTREAM_COMMIT_INTERVAL_SECONDS", get("CREDITSTREAM_COMMIT_INTERVAL_SECONDS"), 0.1, 3600
            ),
            memory_mb=_integer("CREDITSTREAM_MEMORY_MB", get("CREDITSTREAM_MEMORY_MB"), 64, 1_048_576),
            state_cache_users=(
                _integer(
                    "CREDITSTREAM_STATE_CACHE_USERS", get("CREDITSTREAM_STATE_CACHE_USERS"), 0, 100_000_000
                )
                if get("CREDITSTREAM_STATE_CACHE_USERS")
                else None
            ),
            producer_linger_ms=_integer(
                "CREDITSTREAM_PRODUCER_LINGER_MS", get("CREDITSTREAM_PRODUCER_LINGER_MS"), 0, 1000
            ),
            producer_batch_bytes=_integer(
                "CREDITSTREAM_PRODUCER_BATCH_BYTES",
                get("CREDITSTREAM_PRODUCER_BATCH_BYTES"),
                16 * 1024,
                64 * 1024 * 1024,
            ),
            timeline_path=Path(get("CREDITSTREAM_TIMELINE")) if get("CREDITSTREAM_TIMELINE") else None,
        )

    def check_web_exposure(self) -> None:
        """The worker serves user data (/users/{id}): beyond loopback only behind a token.

        Checked when the worker starts, not for every command: a tool run from the same image
        (simulate, produce) serves nothing.
        """
        if not self.api_token and self.web_host not in _LOOPBACK:
            raise SettingsError(
                f"CREDITSTREAM_WEB_HOST={self.web_host!r} would serve /users/{{id}} beyond this machine "
                "without authentication: set CREDITSTREAM_API_TOKEN (a bearer token it will require), "
                "or bind 127.0.0.1"
            )

    def topic(self, name: str) -> str:
        """A catalogue topic's name in this environment."""
        return self.topic_prefix + name

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.ssl_certfile is not None:
            context.load_cert_chain(
                str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
            )
        return context

    def kafka_python_config(self) -> dict[str, Any]:
        """Security settings for kafka-python clients (topic admin)."""
        config: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            config |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.security_protocol.endswith("SSL"):
            config |= {
                "ssl_cafile": str(self.ssl_cafile) if self.ssl_cafile else None,
                "ssl_certfile": str(self.ssl_certfile) if self.ssl_certfile else None,
                "ssl_keyfile": str(self.ssl_keyfile) if self.ssl_keyfile else None,
            }
        return config


def aiokafka_options(kafka_python_config: Mapping[str, Any]) -> dict[str, Any]:
    """The same security for an aiokafka client (the bench's peers): its SASL options have
    kafka-python's names, and TLS comes as an SSL context instead of file names."""
    config = dict(kafka_python_config)
    protocol = str(config.get("security_protocol") or "PLAINTEXT")
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        options |= {
            key: config[key] for key in ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
        }
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=config.get("ssl_cafile"))
        if config.get("ssl_certfile"):
            context.load_cert_chain(config["ssl_certfile"], config.get("ssl_keyfile"))
        options["ssl_context"] = context
    return options


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise SettingsError(f"{name}={value!r} is not true or false")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _integer(name: str, value: str, low: int, high: int) -> int:
    return _bounded(name, value, int, "a whole number", low, high)


def _seconds(name: str, value: str, low: float, high: float) -> float:
    return _bounded(name, value, float, "a number of seconds", low, high)


def _bounded(name: str, value: str, parse: Callable[[str], N], what: str, low: N, high: N) -> N:
    try:
        number = parse(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not {what}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name}={number} is out of range {low}..{high}")
    return number


_LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")


def _api_token(token: str) -> str:
    if token and len(token) < 16:
        raise SettingsError("CREDITSTREAM_API_TOKEN must be at least 16 characters")
    return token


def _identifier(name: str, value: str, *, empty_ok: bool = False) -> str:
    if empty_ok and not value:
        return value
    if not value or not all(c.isalnum() or c in "-_." for c in value):
        raise SettingsError(f"{name}={value!r} must be letters, digits, '-', '_' or '.'")
    return value


def _existing_file(name: str, value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"{name}={value!r}: no such file")
    return path
