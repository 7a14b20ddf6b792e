"""Only the build step pyproject.toml cannot say: the contract ships inside the wheel.

topology.yaml and schemas/avro/ stay at the top of the repository, where contributors and the
design card expect them; a wheel has no such top, so the build copies them into the learnstream
package (`learnstream/_data/`), where an installed learnstream reads them through
importlib.resources (learnstream.settings). A checkout reads the originals.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithContract(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "learnstream" / "_data"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "topology.yaml", target / "topology.yaml")
        shutil.copytree(ROOT / "schemas" / "avro", target / "avro", dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithContract})
