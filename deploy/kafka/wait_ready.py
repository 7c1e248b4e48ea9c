#!/usr/bin/env python3
"""Wait until a Kafka broker answers a Metadata request (standard library only).

The start script uses this instead of a fixed sleep or a log grep: a broker that lists itself in a
Metadata response is one that clients can really use. Exit 0 when ready, 1 on timeout.
Usage: wait_ready.py HOST PORT TIMEOUT_SECONDS [--tls CA_FILE]

With --tls (a SASL_SSL listener) the connection is TLS, verified against CA_FILE for HOST, and the
request is ApiVersions: a SASL listener answers only that and the SASL handshake before a client
authenticates, and answers it only once the broker serves requests.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import time

METADATA_API_KEY = 3
METADATA_VERSION = 1  # v1: null topic array means "no topics", keeps the answer small
API_VERSIONS_API_KEY = 18


def metadata_request(correlation_id: int) -> bytes:
    client_id = b"creditstream-wait-ready"
    body = struct.pack(">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(client_id))
    body += client_id + struct.pack(">i", 0)  # empty topic list
    return struct.pack(">i", len(body)) + body


def read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def broker_count(host: str, port: int) -> int:
    """Send one Metadata request and return how many brokers the answer lists."""
    with socket.create_connection((host, port), timeout=2) as sock:
        sock.sendall(metadata_request(1))
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        payload = read_exact(sock, size)
        correlation_id, brokers = struct.unpack(">ii", payload[:8])
        if correlation_id != 1:
            raise ConnectionError(f"unexpected correlation id {correlation_id}")
        return brokers


def api_versions_over_tls(host: str, port: int, cafile: str) -> int:
    """Send ApiVersions v0 over TLS; return how many APIs the broker lists (0 with an error)."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((host, port), timeout=2) as raw, context.wrap_socket(
        raw, server_hostname=host
    ) as sock:
        client_id = b"creditstream-wait-ready"
        body = struct.pack(">hhih", API_VERSIONS_API_KEY, 0, 1, len(client_id)) + client_id
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", read_exact(sock, 4))
        payload = read_exact(sock, size)
        correlation_id, error_code, count = struct.unpack(">ihi", payload[:10])
        if correlation_id != 1:
            raise ConnectionError(f"unexpected correlation id {correlation_id}")
        return count if error_code == 0 else 0


def main() -> int:
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    cafile = sys.argv[5] if len(sys.argv) == 6 and sys.argv[4] == "--tls" else None
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            if cafile is not None:
                if api_versions_over_tls(host, port, cafile) > 0:
                    return 0
                last_error = "ApiVersions answered with an error"
            elif broker_count(host, port) > 0:
                return 0
            else:
                last_error = "metadata lists no broker yet"
        except (OSError, struct.error) as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.25)
    print(f"broker at {host}:{port} not ready after {timeout:.0f}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
