"""Concurrent changes to the encrypted secret store lose nothing: every change holds an
exclusive lock on the sidecar file ``secrets.enc.lock`` across its read and its write.
Shown with real processes, as the store is used: many ``nexus-connector secrets`` commands
and deploy scripts at once."""

from __future__ import annotations

import fcntl
import multiprocessing
import multiprocessing.synchronize
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_connector_core import ConfigError
from nexus_connector_core._credential_store import EncryptedFileStore, MasterKeys, new_key

KEY_ENV = "NEXUS_CONNECTOR_SECRETS_KEY"


def _store(path: Path, keys: str, **options: float) -> EncryptedFileStore:
    return EncryptedFileStore(path, MasterKeys.from_environ({KEY_ENV: keys}), **options)


#: The CLI, imported and then held until the parent closes the pipe: all start together.
_HELD_CLI = (
    "import os\n"
    "from nexus_connector_core.cli import main\n"
    "os.read(int(os.environ['START_FD']), 1)\n"
    "main()\n"
)


def test_parallel_secrets_set_commands_keep_every_secret(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "secrets.enc"
    _store(path, key).set("seed", "seed-value")
    start_read, start_write = os.pipe()
    env = {**os.environ, KEY_ENV: key, "START_FD": str(start_read)}
    setters = []
    for i in range(20):
        value = tmp_path / f"value-{i}"
        value.write_text(f"value-{i}", encoding="utf-8")
        command = [
            "secrets",
            "set",
            f"secret_{i}",
            "--store",
            str(path),
            "--value-file",
            str(value),
        ]
        setters.append(
            subprocess.Popen(
                [sys.executable, "-c", _HELD_CLI, *command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                pass_fds=(start_read,),
            )
        )
    os.close(start_read)
    os.close(start_write)  # every setter's read returns: go
    for setter in setters:
        out, err = setter.communicate(timeout=120)
        assert setter.returncode == 0, err.decode()
        assert b"stored" in out
    store = _store(path, key)
    assert sorted(store.names()) == sorted(["seed", *(f"secret_{i}" for i in range(20))])
    assert [store.get(f"secret_{i}") for i in range(20)] == [f"value-{i}" for i in range(20)]


def _set_many(
    path: Path, keys: str, worker: int, start: multiprocessing.synchronize.Barrier
) -> None:
    store = _store(path, keys)
    start.wait()
    for i in range(5):
        store.set(f"new_{worker}_{i}", f"value-{worker}-{i}")


def _rotate(path: Path, keys: str, start: multiprocessing.synchronize.Barrier) -> None:
    store = _store(path, keys)
    start.wait()
    store.rotate()


def test_a_rotation_beside_parallel_sets_is_neither_undone_nor_loses_a_secret(
    tmp_path: Path,
) -> None:
    old, new = new_key(), new_key()
    path = tmp_path / "secrets.enc"
    seeded = _store(path, old)
    for i in range(30):
        seeded.set(f"old_{i}", f"value-{i}")
    both = f"{new},{old}"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(9)
    workers = [context.Process(target=_rotate, args=(path, both, start))]
    workers += [context.Process(target=_set_many, args=(path, both, w, start)) for w in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    # Every value opens with the new key alone: the old key can now be dropped, as the
    # docs say, without losing anything.
    only_new = _store(path, new)
    names = only_new.names()
    assert len(names) == 30 + 8 * 5
    assert set(names.values()) == {only_new.keys.current}
    assert only_new.get("old_7") == "value-7"
    assert only_new.get("new_3_4") == "value-3-4"


def test_a_change_gives_up_with_a_clear_error_while_another_holds_the_lock(
    tmp_path: Path,
) -> None:
    key = new_key()
    store = _store(tmp_path / "secrets.enc", key, lock_timeout=0.05)
    store.set("a", "first")
    held = os.open(store.lock_path, os.O_RDWR)  # another open file: as another process holds it
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="being changed by another process"):
            store.set("b", "second")
    finally:
        os.close(held)
    assert list(store.names()) == ["a"]
    store.set("b", "second")  # released: changes go ahead again
    assert sorted(store.names()) == ["a", "b"]
    assert oct(store.lock_path.stat().st_mode & 0o777) == "0o600"
