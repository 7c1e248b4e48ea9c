"""The deploy files agree with the code: versions, addresses, health checks, metrics, settings.

Docker has no engine on the CI machines, so compose cannot be run there; these checks catch the
drift that would break `docker compose up` for the teams that do run it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from streams.kafka.acls import ROLES
from streams.kafka.settings import ENVIRONMENT
from streams.worker.metrics import DomainMetrics

REPO = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


def test_compose_runs_the_same_kafka_version_as_the_maven_broker() -> None:
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert version is not None
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_compose_services_are_wired_and_health_checked() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "worker", "simulator", "prometheus", "grafana", "kafka-ui", "e2e"}
    kafka_env = services["kafka"]["environment"]
    assert "DOCKER://kafka:19092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in services["kafka"]
    for name in ("worker", "simulator"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["simulator"]["depends_on"]["worker"]["condition"] == "service_healthy"
    for name, service in services.items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"


def test_the_ui_and_test_profiles_are_wired_to_the_stack() -> None:
    services = compose()["services"]
    ui = services["kafka-ui"]
    assert ui["profiles"] == ["ui"] and ui["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert ui["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:19092"
    e2e = services["e2e"]
    assert e2e["profiles"] == ["test"]
    assert e2e["depends_on"]["worker"]["condition"] == "service_healthy"  # the worker's /ready
    assert e2e["build"]["target"] == "e2e" and services["worker"]["build"]["target"] == "worker"
    env = e2e["environment"]
    assert env["CREDITSTREAM_E2E_BOOTSTRAP"] == "kafka:19092"
    assert env["CREDITSTREAM_E2E_WORKER_URL"] == "http://worker:6066"
    assert env["CREDITSTREAM_E2E_TOKEN"] == services["worker"]["environment"]["CREDITSTREAM_API_TOKEN"]
    assert env["CREDITSTREAM_E2E_ENGINE"] == "compiled"  # the image adopts a compiled build
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "FROM worker AS e2e" in dockerfile and 'CMD ["tests/e2e", "-v"]' in dockerfile
    assert dockerfile.rstrip().endswith("FROM worker")  # a plain build gives the worker image
    assert (REPO / "tests" / "e2e" / "test_stack.py").exists()
    # Only the default services start with a plain `docker compose up`.
    assert {name for name, service in services.items() if "profiles" not in service} == {
        "kafka", "worker", "simulator", "prometheus", "grafana"
    }  # fmt: skip
    mounts = services["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_the_image_runs_the_compiled_engine_built_on_its_own_python() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    stages = [line.split() for line in dockerfile.splitlines() if line.startswith("FROM ") and " AS " in line]
    bases = {name: base for _, base, _, name in stages}  # FROM <base> AS <name>
    assert bases["engine"] == bases["worker"]  # compiled for the interpreter that runs it
    assert "python -m streams.engine.build\n" in dockerfile
    assert "COPY --from=engine /build/streams/engine/_compiled /tmp/engine-build" in dockerfile
    # The image build fails unless the build loads; no build of the host's goes into it.
    assert "python -P -m streams.engine.build --adopt /tmp/engine-build" in dockerfile
    assert "streams/engine/_compiled" in (REPO / ".dockerignore").read_text().split()


def test_the_image_health_check_asks_the_workers_ready_endpoint() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "http://127.0.0.1:6066/ready" in dockerfile
    assert "CREDITSTREAM_WEB_HOST=0.0.0.0" in dockerfile
    assert compose()["services"]["worker"]["ports"] == ["127.0.0.1:6066:6066"]


def test_prometheus_scrapes_the_worker_metrics() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["worker:6066"]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "creditstream.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_the_alert_rules_cover_what_operators_need() -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert names == {
        "CreditstreamWorkerDown",
        "CreditstreamConsumerLagGrowing",
        "CreditstreamDeadLettersRising",
        "CreditstreamDecisionLatencyHigh",
        "CreditstreamDeclineRateJump",
        "CreditstreamNoEvents",
    }
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]


def test_every_metric_the_dashboard_and_the_alerts_query_exists() -> None:
    registry = CollectorRegistry()
    DomainMetrics.create(registry)
    known = set()
    for family in registry.collect():
        known.add(family.name)
        known.update(sample.name for sample in family.samples)
        known.update(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_count", "_sum"))
    queried = {
        name
        for expression in dashboard_expressions() + alert_expressions()
        for name in re.findall(r"\b(?:creditstream|faust)_[a-z_]+", expression)
    }
    assert queried, "the dashboard queries no metric"
    assert queried <= known, f"unknown metrics: {sorted(queried - known)}"


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [name for name in ENVIRONMENT if f"`{name}`" not in readme]
    assert not missing, f"README does not document {missing}"


def secure_override() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "compose.secure.yml").read_text())
    return document


def test_the_secure_override_runs_kafka_with_tls_scram_and_acls_only() -> None:
    base, secure = compose()["services"], secure_override()["services"]
    assert secure["kafka-secrets"]["image"] == secure["kafka-users"]["image"] == base["kafka"]["image"]
    env = {**base["kafka"]["environment"], **secure["kafka"]["environment"]}  # compose merges maps
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert "PLAINTEXT" not in protocols.values()
    assert protocols["HOST"] == protocols["DOCKER"] == "SASL_SSL"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false" and env["KAFKA_SUPER_USERS"] == "User:admin"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    # The PLAIN listener for the broker's own connections is never published to the host.
    assert base["kafka"]["ports"] == ["127.0.0.1:9092:9092"] and "ports" not in secure["kafka"]
    assert "INTERNAL://kafka:19094" in env["KAFKA_ADVERTISED_LISTENERS"]
    # No password is written in the file: the broker reads them from the secrets volume.
    jaas = env["KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"].replace(
        "$$", "$"
    )  # as compose reads it
    assert 'password="${file:/etc/kafka/secrets/broker-secrets.properties:admin.password}"' in jaas
    assert env["KAFKA_SSL_KEYSTORE_CREDENTIALS"] == "store.password"


def test_the_secure_override_connects_each_creditstream_service_as_its_role() -> None:
    secure = secure_override()["services"]
    roles = {"acls": "admin", "worker": "worker", "simulator": "producer"}
    for name, role in roles.items():
        env = secure[name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SASL_USERNAME"] == role
        assert env["KAFKA_SASL_PASSWORD_FILE"] == f"/secrets/{role}.password"  # from a file, never inline
        assert env["KAFKA_SSL_CAFILE"] == "/secrets/ca.pem"
        assert "kafka-secrets:/secrets:ro" in secure[name]["volumes"]
    assert secure["acls"]["command"] == ["acls", "--apply", "--create-topics"]
    assert secure["worker"]["depends_on"]["acls"]["condition"] == "service_completed_successfully"
    # Every role the ACLs know gets its SCRAM user, and make-secrets makes each one a password.
    users = secure["kafka-users"]["command"][0].split("for role in ")[1].split(";")[0].split()
    make_secrets = (REPO / "deploy" / "kafka" / "make-secrets").read_text()
    assert set(users) == set(make_secrets.split('roles="')[1].split('"')[0].split()) == {"admin", *ROLES}
    assert "./deploy/kafka/make-secrets:/usr/local/bin/make-secrets:ro" in secure["kafka-secrets"]["volumes"]
