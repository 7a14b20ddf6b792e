"""Apache Kafka 4.x, one KRaft node in combined broker+controller mode, from Maven Central jars."""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from learnstream.infra.errors import InfraError
from learnstream.infra.process import PidFile, port_in_use, require_free_port, spawn
from learnstream.infra.service import Service, require_binary
from learnstream.settings import Settings

POM = Path(__file__).parent / "kafka" / "pom.xml"
LOG4J_TEMPLATE = Path(__file__).parent / "kafka" / "log4j2.properties"
_VERSION_LINE = re.compile(r"Kafka version: (\S+)")


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


class KafkaService(Service):
    name = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.lib_dir = settings.jar_cache_dir.resolve() / "lib"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.pidfile = PidFile(self.pidfile.path, marker=str(self.config_file))

    @property
    def embedded(self) -> bool:
        return self.settings.kafka_embedded

    @property
    def address(self) -> str:
        return self.settings.bootstrap_servers

    def check_prerequisites(self) -> None:
        java = require_binary(
            "java", "install a JDK >= 17, e.g. `apt-get install openjdk-17-jre-headless`"
        )
        if _java_major(java) < 17:
            raise InfraError("Kafka 4.x needs Java 17 or newer", "install openjdk-17-jre-headless")
        if not (self.lib_dir / ".complete").exists():
            require_binary("mvn", "install Maven (`apt-get install maven`) to fetch the Kafka jars")
        s = self.settings
        require_free_port(s.kafka_port, "Kafka", "LEARNSTREAM_KAFKA_PORT")
        require_free_port(
            s.kafka_controller_port, "the KRaft controller", "LEARNSTREAM_KAFKA_CONTROLLER_PORT"
        )

    def ensure_jars(self) -> None:
        """Resolve the official broker jars once; the cache survives `infra down`."""
        if (self.lib_dir / ".complete").exists():
            return
        self.ensure_dir(self.lib_dir)
        argv = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            f"-Dkafka.version={self.settings.kafka_version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.lib_dir}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
            raise InfraError(
                f"Maven could not resolve Kafka {self.settings.kafka_version}: {tail[0]}",
                "check that Maven Central is reachable and LEARNSTREAM_KAFKA_VERSION exists",
            )
        (self.lib_dir / ".complete").write_text(self.settings.kafka_version)

    def write_config(self) -> None:
        s = self.settings
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{s.kafka_controller_port}",
            "log.dirs": str(self.data_dir),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # topology.yaml is the one source of topics; a typo must not create a new one.
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
        }
        self.ensure_dir(self.home)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        log4j = LOG4J_TEMPLATE.read_text().replace("@LOG_FILE@", str(self.log_file))
        (self.home / "log4j2.properties").write_text(log4j)

    def _java(self, main_class: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{self.lib_dir}/*",
            main_class,
            *args,
        ]

    def format_storage(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        # Kafka prints cluster ids as url-safe base64 of 16 random bytes, without padding.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.config_file),
            "--standalone",
        )
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InfraError(f"Kafka storage format failed: {result.stderr.strip()[:300]}")

    def launch(self) -> int:
        self.ensure_jars()
        self.write_config()
        self.format_storage()
        argv = self._java("kafka.Kafka", str(self.config_file), heap=self.settings.kafka_heap)
        return spawn(argv, self.home / "stdout.log")

    def probe(self) -> str:
        # A plain TCP check first: librdkafka logs every refused connection loudly.
        host, _, port = self.address.split(",")[0].rpartition(":")
        if not port_in_use(int(port), host or "127.0.0.1"):
            raise ConnectionRefusedError(f"nothing listens on {self.address}")
        admin = AdminClient({**self.settings.kafka_client_config(), "socket.timeout.ms": 2000})
        metadata = admin.list_topics(timeout=2)
        if not metadata.brokers:
            raise ConnectionError("no broker in metadata")
        return self.version()

    def version(self) -> str:
        if self.embedded and self.log_file.exists():
            found = _VERSION_LINE.findall(self.log_file.read_text(errors="replace"))
            if found:
                return f"Apache Kafka {found[-1]}"
        return "Apache Kafka (external)"
