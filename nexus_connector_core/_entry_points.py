"""The installed entry points of one group, scanned once and then read from a cache.

Scanning what is installed (``importlib_metadata.entry_points``) means importing
importlib-metadata and reading the metadata of every distribution on ``sys.path``: tens of
milliseconds at each start of a program. The result of a scan is kept in a small file of the
user's cache folder and used again while nothing it depends on has changed:

- the Python (``sys.version``, ``sys.executable``) and ``sys.path`` itself, entry by entry;
- each ``sys.path`` entry's identity and times (device, inode, size, mtime and ctime of the
  folder or zip file): ``pip install`` and ``pip uninstall`` add or remove a ``.dist-info``
  (or ``.egg-info``) in one of them, which changes that folder's mtime;
- for each distribution that has entry points in the group, its ``.dist-info`` folder and its
  ``entry_points.txt``, stamped the same way (an entry point edited in place).

Anything else is a scan: another Python or ``sys.path``, a stamp that differs, a file that
is not there, unreadable, corrupt, of another format, not the user's own or writable by
others, a finder on ``sys.meta_path`` that finds distributions some other way. A folder
modified within the last `RACY_SECONDS` is not trusted at all (two changes within one tick of
its clock would look like one), so a scan made then is not kept. Nothing of this fails
discovery: a cache that cannot be read or written is a scan.

Only the scan is kept, never what plugins register: each plugin is still imported and asked
for its registrations at every start (its hooks are code, and may depend on anything).

The folder is ``$NEXUS_CONNECTOR_CACHE_DIR`` when set (set but empty: no cache), else the
platform's user cache folder (``$XDG_CACHE_HOME/nexus-connector``, ``~/.cache/nexus-connector``;
``~/Library/Caches/nexus-connector`` on macOS; ``%LOCALAPPDATA%\\nexus-connector\\Cache`` on
Windows), read from the process environment.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from functools import reduce
from typing import Any, Final

import msgspec

__all__ = [
    "CACHE_DIR_ENV",
    "InstalledEntryPoint",
    "cache_dir",
    "installed_entry_points",
]

#: Where the cache is kept; set but empty, no cache is read or written.
CACHE_DIR_ENV: Final = "NEXUS_CONNECTOR_CACHE_DIR"
#: A stamp this recent is not trusted: see the module's docstring.
RACY_SECONDS: Final = 2.0
#: Cache files kept in the folder (one per Python and sys.path); the oldest go first.
MAX_FILES: Final = 64
_FORMAT: Final = 1
_PREFIX: Final = "discovery-"
#: ``module``, ``module:attribute`` or ``module:a.b``, optionally with ``[extras]``: the
#: syntax importlib-metadata loads (its ``EntryPoint.pattern``).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class InstalledEntryPoint(msgspec.Struct, frozen=True, array_like=True):
    """One entry point of an installed distribution: `name` = `value` in its group."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        """Import the module `value` names and return it, or its attribute (as
        importlib-metadata's ``EntryPoint.load`` does)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} = {self.value!r} is not module:attr")
        module = importlib.import_module(match["module"])
        return reduce(getattr, filter(None, (match["attr"] or "").split(".")), module)


# A stamp: (path,) when nothing is there, else (path, device, inode, size, mtime, ctime).
_Stamp = tuple[Any, ...]


class _Cache(msgspec.Struct, frozen=True, kw_only=True):
    format: int
    python: str
    executable: str
    path: list[str]
    group: str
    stamps: list[list[Any]]
    entry_points: list[InstalledEntryPoint]


def cache_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """The folder of the discovery cache, or None when there is to be none (see the module's
    docstring)."""
    env = os.environ if environ is None else environ
    configured = env.get(CACHE_DIR_ENV)
    if configured is not None:
        return os.path.abspath(configured) if configured else None
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        folder = os.path.join(base, "nexus-connector", "Cache")
    elif sys.platform == "darwin":
        folder = os.path.expanduser("~/Library/Caches/nexus-connector")
    else:
        xdg = env.get("XDG_CACHE_HOME", "")
        base = xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")
        folder = os.path.join(base, "nexus-connector")
    # No home to expand "~" into: no cache rather than one relative to the working folder.
    return folder if os.path.isabs(folder) else None


def installed_entry_points(
    group: str,
    *,
    folder: str | None = None,
    now: Callable[[], float] = time.time,
) -> list[InstalledEntryPoint]:
    """The entry points of `group` of every installed distribution, as
    ``importlib_metadata.entry_points(group=group)`` finds them: from the cache in `folder`
    (default `cache_dir()`) when it is still valid, else by a scan kept there for next time.
    `now` is the wall clock the freshness of stamps is judged by."""
    if folder is None:
        folder = cache_dir()
    path = _current_path()
    if folder is None or path is None or _other_finders():
        return _scan(group)[0]
    file = os.path.join(folder, f"{_PREFIX}{_name(group, path)}.json")
    cached = _read(file, group, path)
    if cached is not None:
        return cached
    # Stamped before the scan: what changes during it makes the next read scan again.
    stamps = [_stamp(entry) for entry in path]
    found, distribution_folders = _scan(group)
    if distribution_folders is not None:
        for info in distribution_folders:
            stamps += [_stamp(info), _stamp(os.path.join(info, "entry_points.txt"))]
        if not _racy(stamps, now()):
            _write(folder, file, _Cache(
                format=_FORMAT, python=sys.version, executable=sys.executable, path=path,
                group=group, stamps=[list(s) for s in stamps], entry_points=found,
            ))  # fmt: skip
    return found


# -- the scan --------------------------------------------------------------------------------


def _scan(group: str) -> tuple[list[InstalledEntryPoint], list[str] | None]:
    """The entry points of `group` and the ``.dist-info`` folders of their distributions
    (None when one of them is not a folder on disk that could be stamped)."""
    import importlib_metadata

    found: list[InstalledEntryPoint] = []
    folders: list[str] | None = []
    for ep in importlib_metadata.entry_points(group=group):
        dist = ep.dist
        found.append(
            InstalledEntryPoint(ep.name, ep.value, _field(dist, "name"), _field(dist, "version"))
        )
        where = getattr(dist, "_path", None)  # a PathDistribution's folder
        if folders is not None and isinstance(where, os.PathLike) and os.path.isdir(where):
            folders.append(os.fspath(where))
        else:
            folders = None
    return found, folders


def _field(dist: Any, name: str) -> str | None:
    """A distribution's name or version; None when its metadata lacks it (a broken
    distribution's plugin still loads, or fails on its own)."""
    try:
        value = getattr(dist, name) if dist is not None else None
    except Exception:  # noqa: BLE001 - importlib-metadata raises KeyError for a missing field
        return None
    return value if isinstance(value, str) else None


def _current_path() -> list[str] | None:
    """``sys.path`` with every entry absolute (an empty one is the working folder), or None
    when an entry is not a string."""
    path = sys.path
    if not all(isinstance(entry, str) for entry in path):
        return None
    return [os.path.abspath(entry) for entry in path]


def _other_finders() -> bool:
    """Whether a finder on ``sys.meta_path`` finds distributions other than in the
    folders of ``sys.path`` (the standard library's and importlib-metadata's do)."""
    for finder in sys.meta_path:
        if getattr(finder, "find_distributions", None) is None:
            continue
        module = getattr(finder, "__module__", "") or type(finder).__module__
        if module not in ("_frozen_importlib_external", "importlib_metadata"):
            return True
    return False


def _name(group: str, path: list[str]) -> str:
    """The cache file's name for this Python and path (the file holds the whole key too)."""
    key = "\0".join([group, sys.executable, sys.version, *path]).encode("utf-8", "surrogatepass")
    return f"{zlib.crc32(key):08x}{zlib.adler32(key):08x}"


# -- stamps ----------------------------------------------------------------------------------


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _racy(stamps: Iterable[_Stamp], now: float) -> bool:
    recent = int((now - RACY_SECONDS) * 1e9)
    return any(len(stamp) > 1 and stamp[4] > recent for stamp in stamps)


# -- the file --------------------------------------------------------------------------------

_decoder = msgspec.json.Decoder(_Cache)


def _read(file: str, group: str, path: list[str]) -> list[InstalledEntryPoint] | None:
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        # What the cache says decides which modules are imported: only a file of the
        # user's own that no one else may write to is believed.
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        cache = _decoder.decode(data)
    except msgspec.MsgspecError:
        return None
    if (
        cache.format != _FORMAT
        or cache.python != sys.version
        or cache.executable != sys.executable
        or cache.group != group
        or cache.path != path
    ):
        return None
    for stamp in cache.stamps:
        if not stamp or not isinstance(stamp[0], str) or _stamp(stamp[0]) != tuple(stamp):
            return None
    return cache.entry_points


def _write(folder: str, file: str, cache: _Cache) -> None:
    """Write `cache` to `file` atomically (a whole file or none); give up silently."""
    temporary = f"{file}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with open(fd, "wb", closefd=False) as f:
                f.write(msgspec.json.encode(cache))
        finally:
            os.close(fd)
        os.replace(temporary, file)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return
    _prune(folder)


def _prune(folder: str) -> None:
    """Keep the `MAX_FILES` most recently written cache files (each ``sys.path`` has one,
    and a test session's temporary folders make many)."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(_PREFIX) and n.endswith(".json")]
        if len(names) <= MAX_FILES:
            return
        dated = sorted(names, key=lambda n: os.stat(os.path.join(folder, n)).st_mtime_ns)
        for name in dated[: len(names) - MAX_FILES]:
            os.unlink(os.path.join(folder, name))
    except OSError:
        pass
