"""streams.worker.tracing: an event's context gives the headers its outputs carry, untraced (the
incoming trace headers as they came) and traced (a span in the incoming trace, whose context the
outputs then carry). The broker test (tests/integration/test_tracing.py) runs both end to end."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from streams.worker.tracing import Tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
INCOMING = (("traceparent", TRACEPARENT), ("x-other", b"kept out"), ("tracestate", b"a=1"))


def test_untraced_the_outputs_carry_the_incoming_trace_headers_only() -> None:
    with Tracing(None).event("credit.events", INCOMING, 3, 41) as headers:
        assert headers == [("traceparent", TRACEPARENT), ("tracestate", b"a=1")]
    with Tracing(None).event("credit.events", None, None, None) as headers:
        assert headers == []


def test_traced_the_event_is_a_span_in_the_incoming_trace_and_the_outputs_carry_its_context() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider.get_tracer("test"))

    with tracing.event("credit.events", INCOMING, 3, 41) as headers:
        carried = dict(headers)

    (span,) = exporter.get_finished_spans()
    assert span.name == "credit.events process"
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert dict(span.attributes or {}) == {"messaging.kafka.partition": 3, "messaging.kafka.offset": 41}
    assert carried["traceparent"].decode().split("-")[1:3] == [TRACE_ID, f"{span.context.span_id:016x}"]
