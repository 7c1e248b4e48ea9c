"""What a benchmark ran on, and how busy the machine was meanwhile (Linux /proc; None elsewhere).

The same bench gave about 1.5 times fewer events a second from one virtual machine to the next (a
2.1 GHz Xeon against an earlier one), twice fewer while its host stole 3 to 13% of the CPU, and p99
latency moved with the stolen share from run to run on the one machine. A figure is read against its
machine: so the bench writes the processor and, per phase, the share of the cores busy and stolen.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CpuTimes",
    "cpu_shares",
    "machine_description",
    "process_cpu_seconds",
    "read_cpu_times",
]

PROC_STAT: Final = Path("/proc/stat")
PROC_CPUINFO: Final = Path("/proc/cpuinfo")
# The kernel counts the cores' time in ticks (100 a second a core), by what ran at each tick: a
# phase of a few ticks can read all idle while it was all work. Below this many ticks, no shares.
MIN_TICKS: Final = 50


@dataclass(frozen=True)
class CpuTimes:
    """All cores' time so far, in clock ticks (the ``cpu`` line of /proc/stat)."""

    idle: int  # idle and waiting for I/O
    steal: int  # taken by the hypervisor for other guests
    total: int

    @classmethod
    def parse(cls, stat_text: str) -> CpuTimes:
        for line in stat_text.splitlines():
            fields = line.split()
            if fields and fields[0] == "cpu":
                # user nice system idle iowait irq softirq steal [guest guest_nice, inside user]
                ticks = [int(value) for value in fields[1:9]]
                ticks += [0] * (8 - len(ticks))
                return cls(idle=ticks[3] + ticks[4], steal=ticks[7], total=sum(ticks))
        raise ValueError("no 'cpu' line in /proc/stat")


def read_cpu_times(path: Path = PROC_STAT) -> CpuTimes | None:
    """The cores' times now, or None where there is no /proc/stat to read."""
    try:
        return CpuTimes.parse(path.read_text())
    except (OSError, ValueError):
        return None


def cpu_shares(before: CpuTimes | None, after: CpuTimes | None) -> dict[str, float] | None:
    """Between two readings: percent of all cores' time busy (not idle, not stolen) and stolen.

    None without two readings, or when fewer than ``MIN_TICKS`` ticks passed between them.
    """
    if before is None or after is None or after.total - before.total < MIN_TICKS:
        return None
    elapsed = after.total - before.total
    stolen = after.steal - before.steal
    idle = after.idle - before.idle
    return {
        "busy_pct": round(100 * (elapsed - idle - stolen) / elapsed, 1),
        "steal_pct": round(100 * stolen / elapsed, 1),
    }


def process_cpu_seconds(pid: int, proc: Path = Path("/proc")) -> float | None:
    """The processor time a process has used so far, user and system, all its threads (None where
    /proc does not say, or the process is gone).

    A worker's processor time per event moves far less from run to run than its p99 does (which
    follows every disturbance on a busy machine), so it is the figure to compare changes by."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: count from after it.
    fields = text.rpartition(")")[2].split()
    try:
        user_ticks, system_ticks = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat
    except (IndexError, ValueError):
        return None
    return (user_ticks + system_ticks) / os.sysconf("SC_CLK_TCK")


def machine_description(cpuinfo: Path = PROC_CPUINFO) -> dict[str, Any]:
    """Python, the number of cores, and the processor's model and clock where /proc says."""
    model: str | None = None
    mhz: float | None = None
    try:
        text = cpuinfo.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name == "model name" and model is None:
            model = value.strip()
        elif name == "cpu MHz" and mhz is None:
            with contextlib.suppress(ValueError):  # a garbled clock is left out, not fatal
                mhz = round(float(value), 1)
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": model or platform.processor(),
        "cpu_mhz": mhz,
    }
