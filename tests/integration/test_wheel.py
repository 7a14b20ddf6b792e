"""A built wheel works outside the checkout: it carries topology.yaml, the Avro schemas and the
Alembic migrations as package data, and an installed `learnstream` finds them.

The wheel is built from a copy of the checkout with pip (PEP 517, isolated build) and installed with
`--no-deps` into a new virtualenv in a temporary directory; the dependencies come from the
project's own virtualenv through a .pth file, so the test needs no index and takes seconds.
Only site directories' .pth files run, so the checkout's editable install stays invisible:
`import learnstream` resolves to the wheel's copy (asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from learnstream.settings import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _source_tree(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored) without its build/ and caches:
    setuptools builds in the source tree and would reuse a stale build/lib."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():  # a file deleted in the working tree is still listed
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _source_tree(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    subprocess.run(pip, check=True, timeout=600)
    (built,) = out.glob("learnstream-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's bin directory, with the wheel installed and nothing of the checkout."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    return venv / "bin"


def test_the_wheel_carries_the_contract_and_the_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "learnstream/_data/topology.yaml" in names
    assert "learnstream/_data/avro/org.learnstream.common.envelope.avsc" in names
    assert any(n.startswith("learnstream/_data/avro/history/") for n in names)
    assert "sinks/migrations/env.py" in names and "sinks/migrations/script.py.mako" in names
    assert any(n.startswith("sinks/migrations/versions/0001_") for n in names)
    assert any(n.startswith("learnstream_cli/") for n in names)


@pytest.mark.parametrize("command", [["topology", "check"], ["schemas", "check"]])
def test_an_installed_learnstream_checks_its_contract_outside_the_checkout(
    installed: Path, tmp_path: Path, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSTREAM_")}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    where = subprocess.run(
        [str(installed / "python"), "-c", "import learnstream; print(learnstream.__file__)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert str(PROJECT_ROOT) not in where  # the wheel's copy, not the checkout's
    result = subprocess.run(
        [str(installed / "learnstream"), *command],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
