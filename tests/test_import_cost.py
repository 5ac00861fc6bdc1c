"""What importing the package's entry points loads, in a fresh process (no timing here: the
times are benchmarks/import_and_discovery.py's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Loaded only when something needs it: asyncio by async code, httpx by an HTTP vendor,
#: importlib_metadata by a discovery the cache cannot answer, the config machinery by a
#: config, and the rest by the feature that uses it.
_NOT_ON_IMPORT = (
    "asyncio",
    "httpx",
    "httpcore",
    "importlib_metadata",
    "ssl",
    "socket",
    "redis",
    "smtplib",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "from nexus_connector_core import ConnectorManager",
        "import nexus_connector_core as n; n.ConnectorManager, n.EmailMessage, n.ConnectorError",
    ],
    ids=["manager", "manager-and-contracts"],
)
def test_importing_the_sync_manager_loads_no_asyncio_http_or_metadata(code: str) -> None:
    modules = _modules_after(code)
    assert sorted(m for m in modules if m.split(".")[0] in _NOT_ON_IMPORT) == []


def test_a_sync_call_from_config_to_answer_loads_no_asyncio_or_http() -> None:
    modules = _modules_after(
        "from nexus_connector_core import ConnectorManager, EMBEDDED_DEFAULTS, EmailMessage\n"
        "with ConnectorManager.from_config(EMBEDDED_DEFAULTS) as manager:\n"
        "    manager.email.send(EmailMessage(sender='a@example.com', to=['b@example.com'],"
        " subject='s', text='t'))"
    )
    loaded = {m.split(".")[0] for m in modules}
    assert sorted(loaded & {"asyncio", "httpx", "httpcore", "ssl"}) == []
