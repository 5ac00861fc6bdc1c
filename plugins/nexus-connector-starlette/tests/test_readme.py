"""The README's app runs: written out with a config, served by uvicorn on 127.0.0.1, called."""

from __future__ import annotations

import json
import re
import runpy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from nexus_connector_stripe.testing import signature_header

README = Path(__file__).resolve().parent.parent / "README.md"
WHSEC = "whsec_readme_test"


def test_the_readmes_app_serves_mail_health_and_stripe_webhooks(
    serve: Callable[[Any], Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [code] = re.findall(r"```python\n# main\.py\n(.*?)```", README.read_text(), re.S)
    (tmp_path / "main.py").write_text(code)
    (tmp_path / "connectors.toml").write_text('[connectors.email]\nvendor = "memory"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRIPE_WHSEC", WHSEC)
    main = runpy.run_path(str(tmp_path / "main.py"))
    url = serve(main["app"]).url
    event = json.dumps({"id": "evt_1", "data": {"object": {"id": "pi_1"}}}).encode()
    signed = {"Stripe-Signature": signature_header(event, WHSEC, int(time.time()))}

    confirmed = httpx.post(url + "/orders/7/confirm")
    health = httpx.get(url + "/health")
    webhook = httpx.post(url + "/webhooks/stripe", content=event, headers=signed)

    assert confirmed.status_code == 200
    assert confirmed.json()["id"].endswith("@memory.nexus-connector>")
    assert health.json()["status"] == "healthy"
    assert webhook.status_code == 200
    assert "paid: pi_1" in capsys.readouterr().out
