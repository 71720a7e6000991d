"""``matsearch`` entry point: the top-level groups; feature modules attach their commands to them.

Every command takes ``--json``; bad input ends with a one-line ``error: ...`` on stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from matsearch.cli import core_commands, figures, figures_text, plots, stem, xrd
from matsearch.core.errors import MatsearchError

# exit codes: 1 bad input / not found, 3 service problems (store locked, server unreachable)
EXIT_BAD_INPUT = 1
EXIT_UNAVAILABLE = 3


class Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MatsearchError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(EXIT_UNAVAILABLE if exc.status >= 500 else EXIT_BAD_INPUT)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            click.echo(f"error: {exc.strerror}: {exc.filename}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="MATSEARCH_DATA_DIR",
    help="Data directory (default ./data; env MATSEARCH_DATA_DIR).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """matsearch — vector search for materials science figures, STEM images and XRD patterns."""
    from matsearch.core.settings import Settings

    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    ctx.obj = Settings(**overrides)


@cli.group(cls=Group)
def ingest() -> None:
    """Add figures, PDFs or structures to the index (idempotent: re-ingesting writes the same points)."""


@cli.group(cls=Group)
def search() -> None:
    """Search by image, sketch, text or spectrum."""


@cli.group(cls=Group)
def library() -> None:
    """The bundled crystal-structure library (XRD and STEM collections)."""


@cli.group(cls=Group)
def demo() -> None:
    """The small demo index that `make run` builds."""


GROUPS: dict[str, click.Group] = {"cli": cli, "ingest": ingest, "search": search, "library": library, "demo": demo}

# Each feature module attaches its commands to these groups (heavy imports stay inside the commands).
for _module in (core_commands, figures, figures_text, plots, stem, xrd):
    _module.register(GROUPS)


def main() -> None:
    cli(prog_name="matsearch")


if __name__ == "__main__":
    main()
