"""Reading policy files: TOML, ``extends`` inheritance, validation into a Policy, clear errors.

``load_policy`` turns a bad file into a PolicyError naming the file, the key and the problem.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from schemas.codec import format_validation_error
from streams.policy.model import Policy

__all__ = ["DEFAULT_POLICY_PATH", "PolicyError", "default_policy", "load_policy", "policy_with_overrides"]

DEFAULT_POLICY_PATH: Final = Path(__file__).resolve().parent / "default.toml"


class PolicyError(ValueError):
    """The policy file cannot be read or breaks a rule; the message names the file and the key."""


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate a policy file (the default policy when ``path`` is None).

    A file may start from another with ``extends = "default"`` (the packaged policy) or a path
    relative to itself, and give only what differs: tables merge key by key, values and arrays
    replace. A challenger is then a short, reviewable list of changes.
    """
    source = Path(path) if path is not None else DEFAULT_POLICY_PATH
    document = _read_with_bases(source, seen=())
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"policy file {source}: {format_validation_error(exc)}") from exc


def _read_with_bases(source: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {source} is not valid TOML: {exc}") from exc
    base = document.pop("extends", None)
    if base is None:
        return document
    if not isinstance(base, str):
        raise PolicyError(f'policy file {source}: extends must be "default" or a file path')
    if "version" not in document:
        # Inheriting the base's version would make two different policies report the same
        # policy_version on every decision, and a backtest could not tell them apart.
        raise PolicyError(
            f"policy file {source}: extends {base!r} but gives no version of its own; "
            'add e.g. version = "2026.12-my-change"'
        )
    base_path = DEFAULT_POLICY_PATH if base == "default" else (source.parent / base)
    if base_path.resolve() in seen:
        raise PolicyError(f"policy file {source}: extends {base!r} makes a cycle")
    merged = _read_with_bases(base_path, (*seen, source.resolve()))
    _merge(merged, document)
    return merged


def policy_with_overrides(overrides: dict[str, Any], base: Path | str | None = None) -> Policy:
    """A policy from a base file (the default one) with values replaced, as ``extends`` does.

    Without a ``version`` in the overrides, the version is the base's with a digest of the
    overrides appended, so a changed policy never reports its base's version.
    """
    document = _read_with_bases(Path(base) if base is not None else DEFAULT_POLICY_PATH, seen=())
    if "version" not in overrides:
        digest = hashlib.sha256(repr(sorted(overrides.items())).encode()).hexdigest()[:8]
        overrides = {**overrides, "version": f"{document.get('version', 'policy')}+{digest}"[:64]}
    _merge(document, overrides)
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(f"policy overrides: {format_validation_error(exc)}") from exc


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@cache
def default_policy() -> Policy:
    """The packaged default policy, loaded once (a Policy is immutable, so sharing it is safe)."""
    return load_policy()
