"""Logs split by Kafka partition: the unit of work of a distributed replay or backtest.

A user's state depends only on that user's events, and Kafka keys every input by ``user_id``, so
one partition's events are a whole set of users' histories. A log is either:

- **a flat file** (a simulation, ``dump --records``): each line's user is found (``user_of``) and the
  line goes to the partition Kafka's default partitioner gives that key (murmur2), with its line
  number, so that dead letters and differences name the same lines as one process does. A line with
  no readable user changes no state; it goes to partition 0, which writes its dead letter.
- **a directory of ``partition-NNNN.jsonl`` files** (``dump --records --partitioned DIR``, or the
  split above): each file is one partition. Lines are numbered as if the files were one flat log
  in partition order, which is the order ``dump`` writes a flat file in, so a topic's flat dump and
  its partitioned dump give the same results.

Paths may be local or any fsspec URL (a shared filesystem, object storage), so that workers on
other machines read the same files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import fsspec
import orjson

from streams.kafka.partitioning import key_partition
from streams.records import RECORD_PREFIX

__all__ = [
    "NUMBERED_MANIFEST",
    "Part",
    "count_lines",
    "is_partitioned",
    "part_name",
    "partition_parts",
    "read_part",
    "split_log",
    "user_of",
]

NUMBERED_MANIFEST: Final = "numbered.json"  # a split's: its files' lines start with their number
_PART: Final = re.compile(r"partition-(\d+)\.jsonl$")
_USER_ID: Final = re.compile(rb'"user_id"\s*:\s*"([^"\\]*)"')
_CHUNK_LINES: Final = 10_000  # lines buffered per partition file before a write


@dataclass(frozen=True)
class Part:
    """One partition's file, and how its lines are numbered: carried in the file (a split), or
    counted from ``first_line`` (a dump's partition file)."""

    url: str
    partition: int
    numbered: bool
    first_line: int = 1


def part_name(partition: int) -> str:
    return f"partition-{partition:04d}.jsonl"


def user_of(line: bytes) -> bytes | None:
    """The ``user_id`` of an event line or of a ``dump --records`` line's event; None if unreadable."""
    value = line
    if line.startswith(RECORD_PREFIX):  # a `dump --records` line: the event is its value
        try:
            record = orjson.loads(line)
            value = record["value"].encode() if isinstance(record.get("value"), str) else b""
        except (orjson.JSONDecodeError, AttributeError, KeyError):
            return None
    found = _USER_ID.search(value)
    if found is not None and value.find(b'"user_id"') == found.start():
        return found.group(1)
    try:  # unusual spacing or escapes: parse it
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    user = document.get("user_id") if isinstance(document, dict) else None
    return user.encode() if isinstance(user, str) else None


def is_partitioned(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    return bool(fs.isdir(path))


def partition_parts(url: str, line_counts: dict[str, int] | None = None) -> list[Part]:
    """The partition files of a directory, in partition order. A dump's files are numbered from
    the lines before them: ``line_counts`` (url -> lines) must then give every file's count."""
    fs, path = fsspec.core.url_to_fs(url)
    found = sorted(
        (int(match.group(1)), name)
        for name in fs.ls(path, detail=False)
        if (match := _PART.search(str(name))) is not None
    )
    if not found:
        raise FileNotFoundError(f"{url}: no partition-NNNN.jsonl files in this directory")
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    urls = [(partition, name if protocol == "file" else f"{protocol}://{name}") for partition, name in found]
    if fs.exists(f"{path.rstrip('/')}/{NUMBERED_MANIFEST}"):
        return [Part(part_url, partition, numbered=True) for partition, part_url in urls]
    parts, first = [], 1
    for partition, part_url in urls:
        parts.append(Part(part_url, partition, numbered=False, first_line=first))
        if line_counts is not None:
            first += line_counts[part_url]
    return parts


def count_lines(url: str) -> int:
    with fsspec.open(url, "rb") as source:
        return sum(1 for _ in source)


def read_part(part: Part) -> Iterator[tuple[int, bytes]]:
    """(line number, line) for each line of the part, in file order."""
    with fsspec.open(part.url, "rb") as source:
        if part.numbered:
            for row in source:
                number, _, line = row.partition(b" ")
                yield int(number), line
        else:
            yield from enumerate(source, start=part.first_line)


def split_log(url: str, directory: str, partitions: int) -> list[str]:
    """Write a flat log as ``partitions`` numbered partition files in ``directory`` (each line
    prefixed with its line number); returns their URLs. Every line of a user lands in one file."""
    fs, path = fsspec.core.url_to_fs(directory)
    fs.makedirs(path, exist_ok=True)
    names = [f"{directory.rstrip('/')}/{part_name(p)}" for p in range(partitions)]
    buffers: list[list[bytes]] = [[] for _ in range(partitions)]
    sinks = [fsspec.open(name, "wb").open() for name in names]
    try:
        with fsspec.open(url, "rb") as source:
            for number, line in enumerate(source, start=1):
                user = user_of(line.rstrip(b"\r\n"))
                partition = key_partition(user, partitions) if user is not None else 0
                buffer = buffers[partition]
                buffer.append(b"%d %s" % (number, line if line.endswith(b"\n") else line + b"\n"))
                if len(buffer) >= _CHUNK_LINES:
                    sinks[partition].write(b"".join(buffer))
                    buffer.clear()
        for partition, buffer in enumerate(buffers):
            sinks[partition].write(b"".join(buffer))
    finally:
        for sink in sinks:
            sink.close()
    with fsspec.open(f"{directory.rstrip('/')}/{NUMBERED_MANIFEST}", "wb") as manifest:
        manifest.write(orjson.dumps({"source": url, "partitions": partitions}))
    return names
