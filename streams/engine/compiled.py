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
import importlib.util
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
    if not _load_shared_library():
        return "python"
    package_path.insert(0, str(COMPILED_DIR / "streams" / "engine"))
    return "compiled"


def _load_shared_library() -> bool:
    """Load the build's shared library, a top-level module the compiled modules import by name.

    Loaded from its file, not by putting ``_compiled`` on ``sys.path``: that directory holds a
    ``streams/`` tree, and a process that imports ``streams`` after it (a Dask worker unpickling
    a task, a spawned child given this process's path) found a namespace package there instead of
    creditstream's own, and no engine in it."""
    libraries = sorted(COMPILED_DIR.glob("*__mypyc*" + str(sysconfig.get_config_var("EXT_SUFFIX"))))
    if len(libraries) != 1:
        return False
    name = libraries[0].name.split(".", 1)[0]
    if name in sys.modules:
        return True
    spec = importlib.util.spec_from_file_location(name, libraries[0])
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return True
