"""A Confluent Schema Registry test double, used only because the real registry (not on Maven
Central) cannot run here. It speaks the REST endpoints confluent-kafka's SchemaRegistryClient
uses for registering and fetching Avro schemas, with the registry's id semantics: one global
id per distinct schema, versions per subject, 404/40403 for unknown ids. With Docker, the
compose file runs the real registry instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.conftest import free_port

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def build_app() -> tuple[FastAPI, dict[str, Any]]:
    state: dict[str, Any] = {"ids": {}, "schemas": {}, "subjects": {}, "requests": 0}
    app = FastAPI()

    def reply(body: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)

    def canonical(schema_str: str) -> str:
        return json.dumps(json.loads(schema_str), sort_keys=True, separators=(",", ":"))

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        state["requests"] += 1
        return await call_next(request)

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("schemaType", "AVRO") != "AVRO":
            return reply({"error_code": 42201, "message": "only AVRO here"}, 422)
        key = canonical(body["schema"])
        schema_id = state["ids"].setdefault(key, len(state["ids"]) + 1)
        state["schemas"][schema_id] = body["schema"]
        versions = state["subjects"].setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return reply({"id": schema_id})

    @app.get("/schemas/ids/{schema_id}")
    async def by_id(schema_id: int) -> JSONResponse:
        if schema_id not in state["schemas"]:
            return reply({"error_code": 40403, "message": "Schema not found"}, 404)
        return reply({"schema": state["schemas"][schema_id]})

    @app.get("/subjects")
    async def subjects() -> JSONResponse:
        return reply(sorted(state["subjects"]))

    @app.get("/subjects/{subject}/versions")
    async def versions(subject: str) -> JSONResponse:
        if subject not in state["subjects"]:
            return reply({"error_code": 40401, "message": "Subject not found"}, 404)
        return reply(list(range(1, len(state["subjects"][subject]) + 1)))

    return app, state


@contextmanager
def running_registry() -> Iterator[tuple[str, dict[str, Any]]]:
    app, state = build_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
