"""Run the engine compiled (mypyc) when a current build is there, else as plain Python.

``scripts/build-engine`` (run by ``scripts/setup``) compiles the engine's modules into
``streams/engine/_compiled`` and stamps the build with a digest of their sources. The package
then puts that directory first on its path, so the compiled modules load instead of the ``.py``
files. A build whose digest no longer matches the sources (an edit since) is ignored: the engine
never runs code older than its source. ``CREDITSTREAM_ENGINE=python`` forces plain Python. Both
decide alike, byte for byte (tests/unit/engine/test_compiled.py).
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path
from typing import Final, Literal

__all__ = ["COMPILED_DIR", "COMPILED_MODULES", "EngineKind", "sources_digest", "use_compiled_engine"]

EngineKind = Literal["compiled", "python"]
COMPILED_MODULES: Final = ("view", "state", "features", "scoring", "limits", "offers", "decisions", "apply")
COMPILED_DIR: Final = Path(__file__).with_name("_compiled")
STAMP_NAME: Final = "SOURCES.sha256"


def sources_digest() -> str:
    """What a build is valid for: the modules' sources and this interpreter's extension ABI."""
    digest = hashlib.sha256(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    here = Path(__file__).parent
    for name in COMPILED_MODULES:
        digest.update(name.encode() + b"\0" + (here / f"{name}.py").read_bytes())
    return digest.hexdigest()


def use_compiled_engine(package_path: list[str]) -> EngineKind:
    """Put a current build first on the engine package's path; say which engine will run."""
    if os.environ.get("CREDITSTREAM_ENGINE", "").strip().lower() == "python":
        return "python"
    try:
        built = (COMPILED_DIR / STAMP_NAME).read_text().strip()
    except OSError:
        return "python"
    if built != sources_digest():
        return "python"
    sys.path.append(str(COMPILED_DIR))  # the build's shared library is a top-level module
    package_path.insert(0, str(COMPILED_DIR / "streams" / "engine"))
    return "compiled"
