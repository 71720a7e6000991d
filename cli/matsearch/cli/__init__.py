"""The ``matsearch`` command line. Feature modules listed here get ``register(groups)`` called with the groups."""

COMMAND_MODULES: list[str] = [
    "matsearch.cli.core_commands",
    "matsearch.cli.figures",
    "matsearch.cli.figures_text",
    "matsearch.cli.stem",
    "matsearch.cli.xrd",
]
