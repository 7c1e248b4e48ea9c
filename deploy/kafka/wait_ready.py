#!/usr/bin/env python3
"""Wait until a Kafka broker answers a Metadata request (standard library only).

The start script uses this instead of a fixed sleep or a log grep: a broker that lists itself in a
Metadata response is one that clients can really use. Exit 0 when ready, 1 on timeout.
Usage: wait_ready.py HOST PORT TIMEOUT_SECONDS
"""

from __future__ import annotations

import socket
import struct
import sys
import time

METADATA_API_KEY = 3
METADATA_VERSION = 1  # v1: null topic array means "no topics", keeps the answer small


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


def main() -> int:
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            if broker_count(host, port) > 0:
                return 0
            last_error = "metadata lists no broker yet"
        except (OSError, struct.error) as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.25)
    print(f"broker at {host}:{port} not ready after {timeout:.0f}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
