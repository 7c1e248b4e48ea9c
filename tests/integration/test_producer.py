"""The producer helper on the real broker: validates first, routes by type, keys by user_id."""

from __future__ import annotations

import dataclasses
import time

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from schemas.producer import CreditEventProducer, InvalidEventError
from schemas.topics import EVENTS, INPUT_TOPICS
from streams.kafka.admin import ensure_topics
from streams.processing import expected_partition

PURCHASE = {
    "event_id": "p-1",
    "type": "purchase",
    "user_id": "u-42",
    "occurred_at": "2026-03-03T19:30:00+08:00",
    "amount": 129.9,
    "merchant_id": "m-1",
    "merchant_category": "groceries",
    "funding": "credit",
}
APPLICATION = {
    "event_id": "a-1",
    "type": "application",
    "user_id": "u-42",
    "occurred_at": "2026-03-03T19:31:00+08:00",
    "product": "cash_loan",
    "amount": "8000",
    "term_months": 6,
}


def read_all(bootstrap: str, topic: str, partitions: int, expected: int) -> list[tuple[bytes, bytes, int]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    seen: list[tuple[bytes, bytes, int]] = []
    deadline = time.monotonic() + 15
    while len(seen) < expected and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=300).items():
            seen.extend((r.key, r.value, tp.partition) for r in records)
    consumer.close()
    return seen


def test_every_event_goes_to_the_one_input_topic_in_order_keyed_by_user_with_exact_money(
    bootstrap: str, unique_prefix: str
) -> None:
    specs = [dataclasses.replace(s, name=unique_prefix + s.name) for s in INPUT_TOPICS]
    ensure_topics(bootstrap, partitions=4, topics=specs)
    with CreditEventProducer(bootstrap, topic_prefix=unique_prefix) as producer:
        producer.send(PURCHASE).get(timeout=10)
        producer.send(APPLICATION).get(timeout=10)

    purchase, application = read_all(bootstrap, unique_prefix + EVENTS.name, 4, 2)
    assert purchase[0] == application[0] == b"u-42"
    assert purchase[2] == application[2] == expected_partition(b"u-42", 4)  # Kafka's murmur2
    assert orjson.loads(purchase[1])["amount"] == "129.90"  # in the order sent: one topic, one order
    assert orjson.loads(application[1])["type"] == "application"


def test_an_invalid_event_is_refused_before_sending(bootstrap: str) -> None:
    with (
        CreditEventProducer(bootstrap, topic_prefix="never-created.") as producer,
        pytest.raises(InvalidEventError) as caught,
    ):
        producer.send({**PURCHASE, "amount": "-3", "funding": "loan"})
    assert "amount: must be greater than 0" in caught.value.errors
    assert "funding:" in caught.value.errors
