"""Fixtures of the ``api`` category's tests: a small CRM with an OAuth2 token endpoint on a
real HTTP server on 127.0.0.1 (`FaultServer`), and configs pointing at it."""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from nexus_connector_core.testing import Fault, FaultServer, ReceivedRequest

CLIENT_ID = "crm-client"
CLIENT_SECRET = "s3cret-client-VALUE"
_CONTACT = re.compile(r"/api/contacts/([^/?]+)$")


class CrmApi:
    """A CRM as a `FaultServer` responder: ``POST /oauth/token`` (client credentials, HTTP
    Basic), ``GET /api/contacts/{id}`` and ``POST /api/invoices`` (honours
    ``Idempotency-Key``: a repeat gets the stored invoice, never a second one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.invoices: dict[str, dict[str, Any]] = {}  # by idempotency key
        self.created = 0
        #: Apply the next new invoice, then reset the connection (the answer is lost).
        self.reset_after_next_invoice = False
        self.contact_reads = 0

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def __call__(self, request: ReceivedRequest) -> Fault:
        with self._lock:
            if request.path == "/oauth/token":
                return self._token(request)
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self.valid_tokens:
                return Fault.respond(
                    401,
                    {"error": "invalid_token"},
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            contact = _CONTACT.match(request.path.partition("?")[0])
            if request.method == "GET" and contact:
                self.contact_reads += 1
                found = contact.group(1)
                if not found.isdigit():
                    return Fault.respond(404, {"error": {"message": "no such contact"}})
                return Fault.respond(200, {"id": int(found), "name": "Ada Lovelace"})
            if request.method == "POST" and request.path == "/api/invoices":
                return self._invoice(request)
            return Fault.respond(404, {"error": {"code": "not_found", "message": "no route"}})

    def _token(self, request: ReceivedRequest) -> Fault:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Fault.respond(401, {"error": "invalid_client"})
        self.token_requests += 1
        token = f"tok-{next(self._tokens)}"
        self.valid_tokens.add(token)
        return Fault.respond(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )

    def _invoice(self, request: ReceivedRequest) -> Fault:
        key = request.headers.get("idempotency-key")
        if key is None:
            return Fault.respond(400, {"error": {"message": "Idempotency-Key is required"}})
        stored = self.invoices.get(key)
        if stored is not None:
            return Fault.respond(201, stored, {"Idempotent-Replayed": "true"})
        self.created += 1
        invoice = {"id": f"inv_{self.created}", **json.loads(request.body)}
        self.invoices[key] = invoice
        if self.reset_after_next_invoice:
            self.reset_after_next_invoice = False
            return Fault.reset_after_request()
        return Fault.respond(201, invoice)


class Crm:
    """The CRM, its server, and the issue's example connector pointed at it."""

    #: The environment the config's secrets come from.
    env: ClassVar[dict[str, str]] = {"CRM_ID": CLIENT_ID, "CRM_SECRET": CLIENT_SECRET}

    def __init__(self, api: CrmApi, server: FaultServer) -> None:
        self.api = api
        self.server = server
        self.url = server.url

    def config(self, **resilience: Any) -> dict[str, Any]:
        """``[connectors.crm]`` with `resilience` added to its table."""
        return {
            "connectors": {
                "crm": {
                    "category": "api",
                    "vendor": "http",
                    "options": {"base_url": f"{self.url}/api"},
                    "auth": {
                        "kind": "oauth2_client_credentials",
                        "token_url": f"{self.url}/oauth/token",
                        "client_id": "env:CRM_ID",
                        "client_secret": "env:CRM_SECRET",
                    },
                    "endpoints": {
                        "find_contact": {
                            "method": "GET",
                            "path": "/contacts/{contact_id}",
                            "reads": True,
                            "description": "One contact by id",
                        },
                        "create_invoice": {
                            "method": "POST",
                            "path": "/invoices",
                            "idempotency_header": "Idempotency-Key",
                        },
                    },
                    "resilience": {
                        "retry": {"max_attempts": 3, "base": 0.01, "jitter": "none"},
                        **resilience,
                    },
                }
            },
            "observability": {"loggers": ["memory"]},
        }


@pytest.fixture
def crm() -> Iterator[Crm]:
    """The CRM on a real server on 127.0.0.1."""
    api = CrmApi()
    with FaultServer(default=api) as server:
        yield Crm(api, server)


@pytest.fixture(scope="module")
def serve_asgi() -> Iterator[Callable[[Any], str]]:
    """Serve an ASGI app under uvicorn on 127.0.0.1 (a thread) until the module's tests
    end; returns its origin."""
    uvicorn = pytest.importorskip("uvicorn")
    servers: list[Any] = []

    def start(app: Any) -> str:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        for _ in range(500):  # bounded: the server starts in a few milliseconds
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
