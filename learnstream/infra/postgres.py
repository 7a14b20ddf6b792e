"""PostgreSQL from Debian's packages, run as the `postgres` user when we are root."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from learnstream.infra.errors import InfraError
from learnstream.infra.process import PidFile, require_free_port, terminate
from learnstream.infra.service import Service
from learnstream.settings import Settings

_INSTALL_HINT = "install PostgreSQL (`apt-get install postgresql`)"


def find_bin_dir() -> Path:
    """Newest /usr/lib/postgresql/<major>/bin, else wherever pg_ctl is on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    if candidates:
        return Path(candidates[-1])
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise InfraError("PostgreSQL server binaries (initdb, pg_ctl) were not found", _INSTALL_HINT)


def _others_can_traverse(path: Path) -> bool:
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (existing, *existing.parents))


class PostgresService(Service):
    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if self.as_root and not _others_can_traverse(self.home):
            # A clone under /root cannot be reached by the postgres user; keep the data in a
            # stable per-state-dir place it can reach instead of failing.
            digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:12]
            self.home = Path(tempfile.gettempdir()) / f"learnstream-postgres-{digest}"
            self.log_file = self.home / "postgres.log"
        self.data_dir = self.home / "data"
        self.socket_dir = self.home / "run"
        self.pidfile = PidFile(self.pidfile.path, marker=str(self.data_dir))

    @property
    def embedded(self) -> bool:
        return self.settings.postgres_embedded

    @property
    def address(self) -> str:
        url = self.settings.postgres_url
        return url.split("@")[-1] if "@" in url else url

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _run_as_owner(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        # initdb and postgres refuse to run as root, so root hands them to the postgres user.
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def check_prerequisites(self) -> None:
        bin_dir = find_bin_dir()
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (bin_dir / tool).exists():
                raise InfraError(f"{bin_dir / tool} is missing", _INSTALL_HINT)
        if self.as_root:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise InfraError(
                    "running as root needs the 'postgres' system user", _INSTALL_HINT
                ) from None
        require_free_port(self.settings.postgres_port, "PostgreSQL", "LEARNSTREAM_POSTGRES_PORT")

    def _prepare_dirs(self) -> None:
        for path in (self.home, self.socket_dir, self.log_file.parent):
            self.ensure_dir(path)
        self.log_file.touch()
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            for path in (self.home, self.socket_dir, self.log_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            if self._run_as_owner(["test", "-w", str(self.home)]).returncode != 0:
                raise InfraError(
                    f"the postgres user cannot write {self.home}",
                    "set LEARNSTREAM_STATE_DIR to a directory every user can traverse",
                )

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        pwfile = self.home / ".pwfile"
        pwfile.write_text(self.settings.postgres_password.get_secret_value() + "\n")
        if self.as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        try:
            result = self._run_as_owner(
                [
                    str(find_bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.settings.postgres_user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise InfraError(f"initdb failed: {result.stderr.strip()[:300]}")

    def launch(self) -> int:
        self._prepare_dirs()
        self._initdb()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.settings.postgres_port} "
            f"-k {self.socket_dir} -c fsync=on"
        )
        result = self._run_as_owner(
            [
                str(find_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if result.returncode != 0:
            raise InfraError(
                f"pg_ctl start failed: {result.stdout.strip()[-300:]}", f"read {self.log_file}"
            )
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def _admin_url(self) -> str:
        base = self.settings.postgres_url.rsplit("/", 1)[0]
        return f"{base}/postgres"

    def probe(self) -> str:
        if self.embedded:
            self._ensure_database()
        with psycopg.connect(self.settings.postgres_url, connect_timeout=2) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {str(version[0]).split()[0] if version else '?'}"

    def _ensure_database(self) -> None:
        with psycopg.connect(self._admin_url(), connect_timeout=2, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.settings.postgres_db,)
            ).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.settings.postgres_db))
                )

    def stop(self) -> bool:
        pid = self.running_pid() if self.embedded else None
        if pid is None:
            self.pidfile.clear()
            return False
        self._run_as_owner(
            [str(find_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
        )
        deadline = time.monotonic() + 30
        while self.running_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.running_pid() is not None:
            terminate(pid)
        self.pidfile.clear()
        return True
