"""The compiled engine (mypyc, scripts/build-engine) decides exactly as the plain Python one, and
a build that no longer matches its sources is never used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from streams.engine import build, compiled
from streams.engine.compiled import STAMP_NAME, sources_digest, use_compiled_engine

HAS_COMPILER = shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is not None


def _run(*args: str, engine: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CREDITSTREAM_ENGINE": engine}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True, timeout=600
    )


@pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler: scripts/setup leaves the engine plain Python")
def test_setup_built_the_compiled_engine_and_it_is_the_one_that_runs() -> None:
    which = _run("-c", "import streams.engine as e; print(e.ENGINE)")
    assert which.stdout.strip() == "compiled", (
        "the compiled engine is missing or older than its sources: scripts/setup (or scripts/build-engine) "
        "builds it; see the log it prints"
    )
    where = _run("-c", "import sys, streams.engine; print(sys.modules['streams.engine.apply'].__file__)")
    assert "_compiled" in where.stdout and where.stdout.strip().endswith(".so")


def test_compiled_and_plain_engines_give_the_same_outputs_byte_for_byte(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    _run("-m", "streams", "simulate", "--users", "150", "--days", "200", "--seed", "7", "--out", str(log))
    outputs = {}
    for engine in ("python", ""):
        out = tmp_path / f"out-{engine or 'default'}.jsonl"
        _run("-m", "streams", "replay", str(log), "--out", str(out), engine=engine)
        outputs[engine] = out.read_bytes()
    assert outputs["python"].count(b"\n") > 1000
    assert outputs[""] == outputs["python"]


REAL_COMPILED_DIR = compiled.COMPILED_DIR


def test_a_build_is_used_only_while_it_matches_the_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled, "COMPILED_DIR", tmp_path)
    monkeypatch.delenv("CREDITSTREAM_ENGINE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    path: list[str] = ["/the/sources"]
    assert use_compiled_engine(path) == "python"  # no build at all
    (tmp_path / STAMP_NAME).write_text("0" * 64 + "\n")  # built from other sources
    assert use_compiled_engine(path) == "python"
    assert path == ["/the/sources"]
    (tmp_path / STAMP_NAME).write_text(sources_digest() + "\n")
    monkeypatch.setenv("CREDITSTREAM_ENGINE", "python")
    assert use_compiled_engine(path) == "python"  # forced plain
    monkeypatch.delenv("CREDITSTREAM_ENGINE")
    assert use_compiled_engine(path) == "python"  # a stamp, but no shared library: not a build
    libraries = list(REAL_COMPILED_DIR.glob("*__mypyc*"))
    if not libraries:
        pytest.skip("no compiled build here to take the shared library from")
    shutil.copy(libraries[0], tmp_path / libraries[0].name)
    assert use_compiled_engine(path) == "compiled"
    assert path == [str(tmp_path / "streams" / "engine"), "/the/sources"]
    # Loaded by file: the build's directory (which holds a streams/ tree) never joins sys.path,
    # where a process importing streams after it found a namespace package instead of creditstream.
    assert str(tmp_path) not in sys.path
    assert libraries[0].name.split(".", 1)[0] in sys.modules


def test_adopt_takes_no_build_of_other_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "installed" / "_compiled"
    target.parent.mkdir()
    monkeypatch.setattr(build, "COMPILED_DIR", target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert build.adopt(elsewhere) == 1  # no stamp: not a build
    (elsewhere / STAMP_NAME).write_text("0" * 64 + "\n")  # built from other sources
    assert build.adopt(elsewhere) == 1
    assert not target.exists()


@pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler: scripts/setup leaves the engine plain Python")
def test_an_installed_package_adopts_a_build_made_elsewhere_and_runs_it(tmp_path: Path) -> None:
    """What the Docker image does: the package installed as a wheel (not from the source tree),
    and the compiled build taken from another stage."""
    repo = Path(__file__).resolve().parents[3]
    source = tmp_path / "source"  # built from a copy: the build leaves build/ and *.egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, source / name)
    for package in ("schemas", "streams"):
        skipped = shutil.ignore_patterns("__pycache__", "_compiled*")
        shutil.copytree(repo / package, source / package, ignore=skipped)
    installed = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(installed), str(source)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(installed), "CREDITSTREAM_ENGINE": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-P", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip

    probe = "import sys, streams.engine as e; print(e.ENGINE, sys.modules['streams.engine.apply'].__file__)"
    before = run("-c", probe)
    assert before.stdout.split()[0] == "python", before.stderr  # a wheel carries no build
    adopted = run("-m", "streams.engine.build", "--adopt", str(repo / "streams" / "engine" / "_compiled"))
    assert adopted.returncode == 0, adopted.stderr
    engine, module = run("-c", probe).stdout.split()
    assert engine == "compiled"
    assert Path(module).is_relative_to(installed / "streams" / "engine" / "_compiled")
    assert module.endswith(".so")
