"""streams.tools.bench.machine: the bench says what it ran on and how busy and stolen the cores were."""

from __future__ import annotations

import os
import time
from pathlib import Path

from streams.tools.bench.machine import (
    MIN_TICKS,
    CpuTimes,
    cpu_shares,
    machine_description,
    process_cpu_seconds,
    read_cpu_times,
)

#        user nice system idle iowait irq softirq steal guest guest_nice
_BEFORE = "cpu  1000 0 200 5000 100 0 50 150 0 0\ncpu0 500 0 100 2500 50 0 25 75 0 0\nintr 1 2 3\n"
_AFTER = "cpu  1600 0 300 5300 100 0 50 250 0 0\ncpu0 800 0 150 2650 50 0 25 125 0 0\nintr 4 5 6\n"


def test_the_all_cores_line_gives_idle_stolen_and_total_ticks() -> None:
    times = CpuTimes.parse(_BEFORE)
    assert times == CpuTimes(idle=5100, steal=150, total=6500)


def test_busy_and_stolen_shares_between_two_readings() -> None:
    # 1,100 ticks passed: 300 idle, 100 stolen, so 700 busy.
    shares = cpu_shares(CpuTimes.parse(_BEFORE), CpuTimes.parse(_AFTER))
    assert shares == {"busy_pct": 63.6, "steal_pct": 9.1}  # rounded to one decimal


def test_a_kernel_without_a_steal_column_counts_none_stolen() -> None:
    times = CpuTimes.parse("cpu 10 0 5 80 5\n")
    assert times == CpuTimes(idle=85, steal=0, total=100)


def test_no_shares_without_two_readings_that_moved() -> None:
    reading = CpuTimes.parse(_BEFORE)
    assert cpu_shares(None, reading) is None
    assert cpu_shares(reading, None) is None
    assert cpu_shares(reading, reading) is None


def test_a_phase_of_too_few_ticks_has_no_shares() -> None:
    # A bench phase of a few milliseconds read as all idle while the worker drained its backlog.
    before = CpuTimes(idle=5000, steal=0, total=6000)
    short = CpuTimes(idle=5000 + MIN_TICKS - 1, steal=0, total=6000 + MIN_TICKS - 1)
    assert cpu_shares(before, short) is None
    enough = CpuTimes(idle=5000 + MIN_TICKS // 2, steal=0, total=6000 + MIN_TICKS)
    assert cpu_shares(before, enough) == {"busy_pct": 50.0, "steal_pct": 0.0}


def test_an_unreadable_or_foreign_stat_file_reads_as_none(tmp_path: Path) -> None:
    assert read_cpu_times(tmp_path / "missing") is None
    odd = tmp_path / "stat"
    odd.write_text("intr 1 2 3\n")
    assert read_cpu_times(odd) is None
    odd.write_text(_AFTER)
    assert read_cpu_times(odd) == CpuTimes.parse(_AFTER)


def test_the_processor_model_and_clock_come_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\ncpu MHz\t\t: 2100.000\n\n"
        "processor\t: 1\nmodel name\t: Other\ncpu MHz\t\t: 1800.5\n"
    )
    described = machine_description(cpuinfo)
    assert described["processor"] == "Intel(R) Xeon(R) Processor"
    assert described["cpu_mhz"] == 2100.0
    assert described["cpus"] >= 1
    missing = machine_description(tmp_path / "missing")
    assert missing["cpu_mhz"] is None


def test_a_process_cpu_time_counts_its_user_and_system_ticks(tmp_path: Path) -> None:
    # A command name with a space and a parenthesis: the fields are counted from after its end.
    stat = "4242 (py (x) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3\n"
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text(stat)
    assert process_cpu_seconds(4242, tmp_path) == (250 + 50) / os.sysconf("SC_CLK_TCK")
    assert process_cpu_seconds(4243, tmp_path) is None  # gone


def test_this_process_cpu_time_grows_while_it_works() -> None:
    before = process_cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = process_cpu_seconds(os.getpid())
    assert after is not None and after - before >= 0.2
