"""The README's first example runs: its ``connectors.toml`` and its Python, against the local
EasyPost (the origin set by an environment override, as a deployment would)."""

from __future__ import annotations

import re
from pathlib import Path

from nexus_connector_easypost.testing import API_KEY, EasyPostDouble

from nexus_connector_core import ConnectorManager, PluginRegistry
from nexus_connector_core.testing import FakeClock, FaultServer

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```(toml|python)\n(.*?)^```$", re.M | re.S)


def test_the_first_example_quotes_buys_tracks_and_refunds(
    tmp_path: Path,
    easypost: EasyPostDouble,
    easypost_server: FaultServer,
    registry: PluginRegistry,
    clock: FakeClock,
) -> None:
    blocks = _BLOCK.findall(README.read_text(encoding="utf-8"))
    toml = next(code for kind, code in blocks if kind == "toml")
    python = next(code for kind, code in blocks if kind == "python")
    config = tmp_path / "connectors.toml"
    config.write_text(toml, encoding="utf-8")
    environ = {
        "EASYPOST_API_KEY": API_KEY,
        "NEXUS_CONNECTOR__CONNECTORS__SHIPPING__OPTIONS__BASE_URL": easypost_server.url,
    }

    with ConnectorManager.from_config(
        config, registry=registry, environ=environ, clock=clock
    ) as manager:
        exec(python, {"manager": manager})  # the README's own code, as written

    [label] = easypost.labels
    [shipment] = easypost.shipments
    assert (shipment["reference"], shipment["refund_status"]) == ("order-1042", "submitted")
    assert label["shipment_id"] == shipment["id"]
