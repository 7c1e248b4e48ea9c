"""Compile the engine with mypyc: ``python -m streams.engine.build [--force]`` (scripts/build-engine).

The modules are compiled from a copy of the packages in a scratch directory, and the result
replaces ``streams/engine/_compiled`` whole, stamped with the digest of the sources it was built
from. Nothing here is needed to run: without a C compiler the engine stays plain Python.
"""

from __future__ import annotations

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
        previous = COMPILED_DIR.with_name("_compiled.previous")
        shutil.rmtree(previous, ignore_errors=True)
        if COMPILED_DIR.exists():
            COMPILED_DIR.rename(previous)
        shutil.move(str(staged), COMPILED_DIR)
        shutil.rmtree(previous, ignore_errors=True)
    print(f"build-engine: compiled engine in {COMPILED_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(build(force="--force" in sys.argv[1:]))
