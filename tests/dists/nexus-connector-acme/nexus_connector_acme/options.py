"""Options of the acme vendor."""

import msgspec


class AcmeOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    region: str = "eu"
    sandbox: bool = False
