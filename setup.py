"""Package map: the one ``matsearch`` namespace lives in several top-level folders (see README, "Layout").

``core/matsearch/core`` → ``matsearch.core``, ``encoders/matsearch/encoders`` → ``matsearch.encoders``, and so on:
every ``<root>/matsearch/<part>`` becomes ``matsearch.<part>``. Metadata and dependencies are in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOTS = ("core", "encoders", "indexer", "search", "server", "cli")
here = Path(__file__).parent
package_dir: dict[str, str] = {}
packages: list[str] = []
for root in ROOTS:
    for part in sorted((here / root / "matsearch").iterdir()):
        if (part / "__init__.py").exists():
            name = f"matsearch.{part.name}"
            package_dir[name] = f"{root}/matsearch/{part.name}"
            packages += [name] + [f"{name}.{sub}" for sub in find_packages(str(part))]

setup(packages=packages, package_dir=package_dir)
