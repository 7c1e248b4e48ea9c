"""take_batches on a faust stream of its own (no agent): what the agent's restarts rely on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from faust.types import Message

from streams.kafka.settings import Settings
from streams.policy import default_policy
from streams.worker.app import create_app
from streams.worker.take import take_batches


def test_a_body_that_crashes_and_starts_again_on_the_same_stream_gets_the_next_records(
    tmp_path: Path,
) -> None:
    """faust's supervisor restarts a crashed agent body on the same stream. The new body's
    take_batches must get the records that come next: the stream's drainer outlives the first."""
    settings = Settings.from_environment(
        {
            "CREDITSTREAM_STORE": "memory",
            "CREDITSTREAM_STATE_DIR": str(tmp_path),
            "CREDITSTREAM_APP_ID": "take",
        }
    )
    app = create_app(settings, default_policy()).app
    app.finalize()
    app.flow_control.resume()
    batches: list[list[int]] = []

    async def scenario() -> None:
        stream = app.channel().stream()
        channel: Any = stream.channel  # the stream's own (iterating) channel: its queue

        async def put(offset: int) -> None:
            message = Message(
                topic="t", partition=0, offset=offset, timestamp=time.time(), timestamp_type=0, headers=None,
                key=b"k", value=b"v", checksum=b"", generation_id=app.consumer_generation_id,
            )  # fmt: skip
            await channel.put(await channel.decode(message))

        async def body(crash_after: int) -> None:
            async for batch in take_batches(stream, 10, lambda waiting: 0.005):
                batches.append([event.message.offset for event in batch])
                if len(batches) >= crash_after:
                    raise RuntimeError("the body crashed")

        for offset in range(3):
            await put(offset)
        first = asyncio.ensure_future(body(crash_after=1))
        for _ in range(100):
            if first.done():
                break
            await asyncio.sleep(0.01)
        assert isinstance(first.exception(), RuntimeError)
        await asyncio.sleep(0.05)  # the first generator is finalised (its body's frame is gone)
        for offset in range(3, 6):
            await put(offset)
        second: Any = asyncio.ensure_future(body(crash_after=99))
        for _ in range(100):
            if sum(len(batch) for batch in batches) >= 6:
                break
            await asyncio.sleep(0.01)
        second.cancel()
        await stream.stop()

    asyncio.run(scenario())
    assert batches[0] == [0, 1, 2]
    assert [offset for batch in batches[1:] for offset in batch] == [3, 4, 5]
