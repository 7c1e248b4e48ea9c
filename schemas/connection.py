"""Why a secured Kafka connection fails, in one line.

kafka-python reports a wrong password, a CA that does not match the broker's certificate, or a
missing listener alike, as "Unable to bootstrap" after its timeout: the broker's SASL answer is lost
when it closes the socket. A client that is refused must say why, once, and stop. This module asks
the first bootstrap server itself, step by step, with the same settings: TCP, then TLS verified
against the configured CA, then the SASL handshake and authentication (SCRAM through kafka-python's
own SCRAM client, or PLAIN). Standard library and kafka-python only: the producer helper and the
decision client use it without the worker's install.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Mapping
from typing import Any, Final

from kafka.net.sasl.scram import ScramClient  # kafka-python's own SCRAM exchange

__all__ = ["diagnose_connection"]

_METADATA: Final = 3
_SASL_HANDSHAKE: Final = 17
_SASL_AUTHENTICATE: Final = 36
_CLIENT_ID: Final = b"creditstream-diagnosis"


def diagnose_connection(
    bootstrap_servers: str, config: Mapping[str, Any], timeout: float = 5.0
) -> str | None:
    """The reason the first bootstrap server refuses these settings, or None when it accepts them
    (or when nothing more specific can be said). ``config`` is kafka-python's (security_protocol,
    sasl_*, ssl_*). The message never contains the password."""
    server = bootstrap_servers.split(",", maxsplit=1)[0].strip()
    host, _, port_text = server.rpartition(":")
    protocol = str(config.get("security_protocol") or "PLAINTEXT").upper()
    try:
        raw = socket.create_connection((host, int(port_text)), timeout=timeout)
    except (OSError, ValueError) as exc:
        return f"no Kafka broker answers at {server} ({exc})"
    sock: socket.socket = raw
    try:
        if protocol.endswith("SSL"):
            cafile = config.get("ssl_cafile")
            context = ssl.create_default_context(cafile=cafile)
            if config.get("ssl_certfile"):
                context.load_cert_chain(config["ssl_certfile"], config.get("ssl_keyfile"))
            try:
                sock = context.wrap_socket(raw, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                where = (
                    f"the CA in KAFKA_SSL_CAFILE ({cafile})"
                    if cafile
                    else "any system CA (KAFKA_SSL_CAFILE is empty)"
                )
                problem = exc.verify_message
                return f"the broker at {server} has a TLS certificate not signed by {where}: {problem}"
            except (ssl.SSLError, OSError) as exc:
                return (
                    f"TLS with the broker at {server} failed: {exc} "
                    f"(is its listener TLS? KAFKA_SECURITY_PROTOCOL={protocol})"
                )
        if protocol.startswith("SASL_"):
            return _authenticate(sock, server, config)
        _call(sock, _METADATA, 1, struct.pack(">i", 0))  # a listener that wants SASL closes here
        return None
    except (OSError, struct.error, ValueError) as exc:
        return (
            f"the broker at {server} closed the connection during set-up ({exc or type(exc).__name__}): "
            f"its listener may need other security settings than KAFKA_SECURITY_PROTOCOL={protocol}"
        )
    finally:
        sock.close()


def _authenticate(sock: socket.socket, server: str, config: Mapping[str, Any]) -> str | None:
    mechanism = str(config.get("sasl_mechanism") or "")
    user = str(config.get("sasl_plain_username") or "")
    password = str(config.get("sasl_plain_password") or "")
    if not user or not password:
        return "SASL needs a user name and a password: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD(_FILE)"
    reply = _call(sock, _SASL_HANDSHAKE, 1, _string(mechanism))
    error, count = struct.unpack(">hi", reply[:6])
    if error:
        offered, rest = [], reply[6:]
        for _ in range(count):
            (size,) = struct.unpack(">h", rest[:2])
            offered.append(rest[2 : 2 + size].decode())
            rest = rest[2 + size :]
        accepted = ", ".join(offered)
        return f"the broker at {server} does not accept SASL mechanism {mechanism}; it offers {accepted}"
    if mechanism == "PLAIN":
        steps = [b"\0" + user.encode() + b"\0" + password.encode()]
        scram = None
    else:
        scram = ScramClient(user, password, mechanism)
        steps = [scram.first_message()]
    for step in range(2 if scram is not None else 1):
        reply = _call(sock, _SASL_AUTHENTICATE, 1, struct.pack(">i", len(steps[-1])) + steps[-1])
        (error,) = struct.unpack(">h", reply[:2])
        message, rest = _nullable_string(reply[2:])
        if error:
            return f"SASL authentication as {user!r} failed at {server}: {message or f'error {error}'}"
        (size,) = struct.unpack(">i", rest[:4])
        answer = rest[4 : 4 + size]
        if scram is not None and step == 0:
            scram.process_server_first_message(answer)
            steps.append(scram.final_message())
    return None


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def _nullable_string(data: bytes) -> tuple[str | None, bytes]:
    (size,) = struct.unpack(">h", data[:2])
    if size < 0:
        return None, data[2:]
    return data[2 : 2 + size].decode(errors="replace"), data[2 + size :]


def _call(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    """One request with header v1; the response body after its correlation id."""
    header = struct.pack(">hhih", api_key, version, 1, len(_CLIENT_ID)) + _CLIENT_ID
    request = header + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    (size,) = struct.unpack(">i", _read(sock, 4))
    payload = _read(sock, size)
    return payload[4:]


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data
