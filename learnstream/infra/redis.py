"""Redis from Debian's packages, with the append-only file on so data survives a restart."""

from __future__ import annotations

import redis

from learnstream.infra.process import PidFile, require_free_port, spawn
from learnstream.infra.service import Service, require_binary
from learnstream.settings import Settings


class RedisService(Service):
    name = "redis"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # redis-server rewrites its process title to "redis-server 127.0.0.1:<port>".
        self.pidfile = PidFile(self.pidfile.path, marker=f"127.0.0.1:{settings.redis_port}")

    @property
    def embedded(self) -> bool:
        return self.settings.redis_embedded

    @property
    def address(self) -> str:
        return self.settings.redis_address.split("@")[-1].removeprefix("redis://")

    def check_prerequisites(self) -> None:
        require_binary("redis-server", "install Redis (`apt-get install redis-server`)")
        require_free_port(self.settings.redis_port, "Redis", "LEARNSTREAM_REDIS_PORT")

    def launch(self) -> int:
        data = self.ensure_dir(self.home)
        self.ensure_dir(self.log_file.parent)
        argv = [
            "redis-server",
            "--port",
            str(self.settings.redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_file),
            "--save",
            "60 1000",
        ]
        return spawn(argv, self.log_file)

    def probe(self) -> str:
        client = redis.Redis.from_url(self.settings.redis_address, socket_timeout=2)
        try:
            client.ping()
            return f"Redis {client.info('server')['redis_version']}"
        finally:
            client.close()
