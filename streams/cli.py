"""The creditstream command line: worker, replay, simulate, produce, backtest, bench, schemas, topics.

Each command is a thin shell over a module that does the work; errors in input or configuration
print one clear line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer

from streams.policy import Policy, PolicyError, load_policy

__all__ = ["app", "main"]

app = typer.Typer(
    name="creditstream",
    help="A real-time credit engine on Kafka and Faust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schemas_app = typer.Typer(help="Event contracts: export the JSON Schema files.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")

PolicyOption = Annotated[
    Path | None, typer.Option("--policy", help="Policy TOML file (default: the packaged default policy).")
]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"creditstream: {message}", err=True)
    raise typer.Exit(code)


def policy_or_exit(path: Path | None) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(str(exc))


@app.command()
def replay(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT.jsonl", help="Input events, one JSON object a line.")
    ],
    policy: PolicyOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write outputs here (default: standard output).")
    ] = None,
) -> None:
    """Replay a log of input events through the engine and write every output event as JSONL."""
    from streams.progress import progress_bar
    from streams.replay import replay_lines

    loaded = policy_or_exit(policy)
    try:
        source = input_file.open("rb")
        size = input_file.stat().st_size
    except OSError as exc:
        fail(f"cannot read input file {input_file}: {exc.strerror or exc}")
    try:
        sink: BinaryIO = out.open("wb") if out is not None else sys.stdout.buffer
    except OSError as exc:
        fail(f"cannot write output file {out}: {exc.strerror or exc}")
    with source, progress_bar(f"replay {input_file.name}", size) as advance:

        def show_progress(line_number: int) -> None:
            if line_number % 20_000 == 0:
                advance(source.tell())

        summary = replay_lines(source, sink, loaded, on_line=show_progress)
        advance(size)
    sink.flush()
    if out is not None:
        sink.close()
    typer.echo(summary.text(), err=True)


@schemas_app.command("export")
def schemas_export(
    check: Annotated[
        bool, typer.Option("--check", help="Only check; exit 1 when the files are stale.")
    ] = False,
) -> None:
    """Regenerate schemas/json from the models (or check that it is current)."""
    from schemas.export import SCHEMA_DIR, check_schema_files, write_schema_files

    if check:
        drifted = check_schema_files()
        if drifted:
            fail(f"stale schema files: {', '.join(drifted)}; run `creditstream schemas export`", code=1)
        typer.echo(f"{SCHEMA_DIR}: up to date", err=True)
        return
    for path in write_schema_files():
        typer.echo(str(path))


def main() -> None:
    app()
