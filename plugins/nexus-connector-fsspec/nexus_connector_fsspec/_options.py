"""``[connectors.<name>.options]`` of the ``fsspec`` cloud_storage vendor."""

from __future__ import annotations

import re
from typing import Any

import msgspec

__all__ = ["FsspecOptions"]

_PROTOCOL = re.compile(r"[a-z][a-z0-9+._-]{0,31}")
# The core's own secret references: a value written like one belongs in `credentials`.
_REFERENCE = re.compile(r"(env|file|store):\S")


class FsspecOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which fsspec filesystem holds the objects, and where::

        [connectors.files]
        category = "cloud_storage"
        vendor = "fsspec"
        options = { protocol = "gcs", root = "acme-invoices/objects",
                    storage_options = { project = "acme" } }
        credentials = { token = "file:/run/secrets/gcs.json" }

    `storage_options` are the filesystem's own keyword arguments (fsspec's
    ``filesystem(protocol, **storage_options)``); secrets go in ``credentials``, where
    references (``env:NAME``, ``file:PATH``, a provider's) are resolved, and each is passed
    to the filesystem under its own name.
    """

    #: fsspec's name of the filesystem: ``gcs``, ``abfs``, ``s3``, ``sftp``, ``file``,
    #: ``memory``... Its package (gcsfs, adlfs, s3fs, paramiko...) must be installed.
    protocol: str
    #: The folder (or ``bucket/prefix``) the keys live under, in the filesystem's own
    #: terms: ``/var/lib/objects`` for ``file``, ``acme-invoices/objects`` for ``gcs``.
    root: str
    #: Keyword arguments of the filesystem (no secrets: see ``credentials``).
    storage_options: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if not _PROTOCOL.fullmatch(self.protocol):
            raise ValueError(
                f"protocol {self.protocol!r} must be an fsspec protocol name such as "
                "'gcs', 'abfs', 'sftp', 'file' or 'memory'"
            )
        if not self.root.strip() or self.root != self.root.strip():
            raise ValueError("root must name the folder (or bucket/prefix) the objects live under")
        if "\0" in self.root or ".." in self.root.replace("\\", "/").split("/"):
            raise ValueError("root must not contain NUL or a '..' segment")
        for name, value in self.storage_options.items():
            if isinstance(value, str) and _REFERENCE.match(value):
                raise ValueError(
                    f"storage_options.{name} is a secret reference: put it under the "
                    f"connector's credentials ({name} = {value.split(':')[0]}:...), where "
                    "references are resolved and passed to the filesystem as "
                    f"storage option {name!r}"
                )
