"""Compile the engine with mypyc: ``python -m streams.engine.build [--force]`` (scripts/build-engine),
or adopt a build compiled elsewhere: ``--adopt DIR`` (the Docker image).

The modules are compiled from a copy of the packages in a scratch directory, and the result
replaces ``streams/engine/_compiled`` whole, stamped with the digest of the sources it was built
from. Nothing here is needed to run: without a C compiler the engine stays plain Python.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Final

from streams.engine.compiled import COMPILED_DIR, COMPILED_MODULES, STAMP_NAME, sources_digest

# mypyc type-checks what the engine imports, as scripts/check does (strict, with pydantic's plugin).
_MYPY_CONFIG: Final = """\
[tool.mypy]
python_version = "3.11"
strict = true
plugins = ["pydantic.mypy"]

[[tool.mypy.overrides]]
module = ["faust.*", "mode.*", "kafka.*", "rocksdict.*", "aiokafka.*"]
ignore_missing_imports = true
"""


def build(force: bool = False) -> int:
    digest = sources_digest()
    stamp = COMPILED_DIR / STAMP_NAME
    if not force and stamp.is_file() and stamp.read_text().strip() == digest:
        print("build-engine: the compiled engine is current", file=sys.stderr)
        return 0
    compiler = str(sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        print(f"build-engine: no C compiler ({compiler}); the engine runs as plain Python", file=sys.stderr)
        return 0
    packages = Path(__file__).resolve().parents[2]  # the directory holding schemas/ and streams/
    with tempfile.TemporaryDirectory(prefix="creditstream-build-") as scratch:
        root = Path(scratch)
        for package in ("schemas", "streams"):
            shutil.copytree(
                packages / package,
                root / package,
                ignore=shutil.ignore_patterns("__pycache__", "_compiled", "*.so", "json"),
            )
        (root / "pyproject.toml").write_text(_MYPY_CONFIG)
        sources = [f"streams/engine/{name}.py" for name in COMPILED_MODULES]
        print(f"build-engine: compiling {len(sources)} engine modules with mypyc", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *sources], cwd=root, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(done.stdout[-4000:] + done.stderr[-4000:], file=sys.stderr)
            print("build-engine: mypyc failed; the engine runs as plain Python", file=sys.stderr)
            return 1
        staged = root / "_compiled"
        (staged / "streams" / "engine").mkdir(parents=True)
        for library in root.glob("*__mypyc*.so"):
            shutil.copy2(library, staged / library.name)
        for name in COMPILED_MODULES:
            (module,) = (root / "streams" / "engine").glob(f"{name}.*.so")
            shutil.copy2(module, staged / "streams" / "engine" / module.name)
        (staged / STAMP_NAME).write_text(digest + "\n")
        _put_in_place(staged)
    print(f"build-engine: compiled engine in {COMPILED_DIR}", file=sys.stderr)
    return 0


def adopt(build_dir: Path) -> int:
    """Make a build compiled elsewhere this installation's engine: the Docker image compiles in a
    stage with a C compiler, and its worker stage, which has none, adopts the result into the
    installed package. Only a build of these very sources for this interpreter is taken, and it
    stays only if it loads: otherwise the reason is printed, no build is left in place (the engine
    runs as plain Python), and the exit status is 1."""
    try:
        built = (build_dir / STAMP_NAME).read_text().strip()
    except OSError:
        print(f"build-engine: {build_dir} holds no engine build (no {STAMP_NAME})", file=sys.stderr)
        return 1
    digest = sources_digest()
    if built != digest:
        print(
            f"build-engine: the build in {build_dir} is of other sources or for another Python "
            f"(digest {built[:12]}, these sources {digest[:12]}); not adopted",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="creditstream-adopt-", dir=COMPILED_DIR.parent) as scratch:
        staged = Path(scratch) / "_compiled"
        shutil.copytree(build_dir, staged)
        _put_in_place(staged)
    # -P: import this installation, not a source tree in the working directory.
    check = [sys.executable, "-P", "-c", "import streams.engine as e; print(e.ENGINE)"]
    env = {name: value for name, value in os.environ.items() if name != "CREDITSTREAM_ENGINE"}
    loaded = subprocess.run(check, capture_output=True, text=True, check=False, env=env)
    if loaded.stdout.strip() != "compiled":
        shutil.rmtree(COMPILED_DIR, ignore_errors=True)
        print(
            f"build-engine: the adopted build does not load, removed: {loaded.stderr.strip()[-2000:]}",
            file=sys.stderr,
        )
        return 1
    print(f"build-engine: adopted the compiled engine into {COMPILED_DIR}", file=sys.stderr)
    return 0


def _put_in_place(staged: Path) -> None:
    """Replace ``COMPILED_DIR`` whole with ``staged``, so that no mix of two builds is ever there."""
    previous = COMPILED_DIR.with_name("_compiled.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if COMPILED_DIR.exists():
        COMPILED_DIR.rename(previous)
    shutil.move(str(staged), COMPILED_DIR)
    shutil.rmtree(previous, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.engine.build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="compile even when the build is current")
    parser.add_argument("--adopt", type=Path, metavar="DIR", help="take a build compiled elsewhere instead")
    args = parser.parse_args(argv)
    return adopt(args.adopt) if args.adopt is not None else build(force=args.force)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
