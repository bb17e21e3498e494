"""Blob store on a local directory: the embedded default when no S3 bucket is configured.

Key `a/b/c.json` is the file `<root>/a/b/c.json`. A write is durable when `put` returns: the bytes
go to a temporary file in the target directory, which is fsynced and renamed over the target, and
then the directory is fsynced (as is every directory the write had to create), so an acknowledged
event survives a crash or power loss. Readers never see a partial object.

File-system calls run in a worker thread (`asyncio.to_thread`), except `put_many` of non-durable
objects (the worker's per-entity copies): those go to a `ChildPool` child when one is given
(runtime/child_pool.py; its syscalls then leave the loop's thread and GIL), else a small batch is
written on the loop (~90 us each, cheaper there than GIL hand-offs from a thread; see `put_many`).
The request files (durable) stay in threads: measured, the child gained nothing there.

Keys are '/'-separated relative paths and can never leave the root: empty, absolute, `.`/`..`
segments, empty segments (`a//b`, trailing `/`) and NUL bytes raise ValueError.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from langfuse_aio.runtime.child_pool import ChildPool, ChildPoolUnavailable
from langfuse_aio.storage.blob.base import BlobStoreError

# Temporary files live beside their target (same directory, so the rename is atomic). `list`
# skips them, and no key may name one, so they can never be mistaken for objects.
_TMP_PREFIX = ".lfaio-tmp-"
_PUT_ATTEMPTS = 5
_INLINE_MAX_ITEMS = 256
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def _check_segments(segments: Iterable[str], what: str, original: str) -> None:
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid blob {what} {original!r}: empty, '.' or '..' path segment")
        if segment.startswith(_TMP_PREFIX):
            raise ValueError(f"invalid blob {what} {original!r}: reserved name {_TMP_PREFIX!r}")


def _validate_key(key: str) -> list[str]:
    if not isinstance(key, str) or key == "":
        raise ValueError("invalid blob key: must be a non-empty string")
    if "\x00" in key:
        raise ValueError(f"invalid blob key {key!r}: NUL byte")
    if key.startswith("/"):
        raise ValueError(f"invalid blob key {key!r}: absolute")
    segments = key.split("/")
    _check_segments(segments, "key", key)
    return segments


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_rebuildable(root: str, items: list[tuple[str, bytes]]) -> None:
    """Runs in a `ChildPool` child."""
    LocalBlobStore(Path(root))._put_many_sync(items, durable=False)


class LocalBlobStore:
    """`BlobStore` on a directory. Construction does no I/O; `ping` creates the root if needed.
    `writer` (owned by the caller) takes the non-durable batches of `put_many`."""

    def __init__(self, root: Path, *, writer: ChildPool | None = None) -> None:
        self.root = Path(root).absolute()
        self._root = str(self.root)
        self._writer = writer

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_validate_key(key))

    # -- sync implementations (run in worker threads) ------------------------------------------

    def _ensure_dir(self, directory: Path, durable: bool = True) -> None:
        """Create `directory` and its missing parents (durably: each new directory's parent is
        fsynced after the mkdir)."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    raise
                continue  # created concurrently; whoever created it fsyncs its parent
            if durable:
                _fsync_dir(path.parent)

    def _make_dir(self, directory: str, durable: bool) -> None:
        """The usual case (a new entity's folder under an existing one) in one mkdir; the walk only
        when the parent is missing too."""
        try:
            os.mkdir(directory)
        except FileExistsError:
            return
        except FileNotFoundError:
            self._ensure_dir(Path(directory), durable)
            return
        if durable:
            _fsync_dir(Path(os.path.dirname(directory)))

    def _put_many_sync(self, items: Sequence[tuple[str, bytes]], durable: bool) -> None:
        for key, data in items:
            self._put_sync(key, data, durable)

    def _put_sync(self, key: str, data: bytes, durable: bool = True) -> None:
        # Plain os calls on str paths: the fan-out writes thousands of these a second from worker
        # threads, and every Python-level step here holds the GIL the event loop needs.
        path = os.path.join(self._root, *_validate_key(key))
        directory = os.path.dirname(path)
        # One temporary name per directory, process and thread (a thread writes one object at a
        # time), so no two writers share one; a crash leaves at most that one behind, which `list`
        # skips and the thread's next write here reuses.
        tmp = os.path.join(directory, f"{_TMP_PREFIX}{os.getpid()}-{threading.get_ident()}")
        for attempt in range(_PUT_ATTEMPTS):
            try:
                fd = os.open(tmp, _TMP_FLAGS, 0o600)
                break
            except FileNotFoundError:
                # The entity's directory is new (or a concurrent delete just pruned it): create it.
                if attempt == _PUT_ATTEMPTS - 1:
                    raise
                self._make_dir(directory, durable)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if durable:
            _fsync_dir(Path(directory))

    def _get_sync(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None

    def _list_sync(self, prefix: str) -> list[str]:
        if "\x00" in prefix:
            raise ValueError(f"invalid blob prefix {prefix!r}: NUL byte")
        if prefix.startswith("/"):
            raise ValueError(f"invalid blob prefix {prefix!r}: absolute")
        # Every directory segment of the prefix must be a valid key segment; the last, partial
        # segment only filters names.
        dir_segments = prefix.split("/")[:-1]
        _check_segments(dir_segments, "prefix", prefix)
        start = self.root.joinpath(*dir_segments)
        if not start.is_dir():
            return []
        keys: list[str] = []
        base = str(self.root)
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = os.path.relpath(dirpath, base)
            key_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            if not key_dir.startswith(prefix) and not prefix.startswith(key_dir):
                dirnames.clear()  # this subtree cannot match
                continue
            dirnames[:] = [d for d in dirnames if not d.startswith(_TMP_PREFIX)]
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = key_dir + name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return keys

    def _delete_sync(self, keys: Sequence[str]) -> None:
        paths = [self._path(key) for key in keys]  # validate everything before deleting anything
        touched: set[Path] = set()
        for path in paths:
            try:
                path.unlink()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
            touched.add(path.parent)
        # Make the deletions durable (a deleted event must not come back after a crash), then prune
        # directories left empty, so deleted entities do not leave skeletons behind.
        for directory in sorted(touched, key=lambda p: len(p.parts), reverse=True):
            try:
                _fsync_dir(directory)
            except FileNotFoundError:
                continue
            self._prune(directory)

    def _prune(self, directory: Path) -> None:
        current = directory
        while current != self.root and self.root in current.parents:
            try:
                current.rmdir()
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise
            try:
                _fsync_dir(current.parent)
            except FileNotFoundError:  # a concurrent prune removed the parent already
                return
            current = current.parent

    def _ping_sync(self) -> None:
        self._ensure_dir(self.root)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise BlobStoreError(f"blob directory {self.root} is not writable")

    # -- BlobStore -----------------------------------------------------------------------------

    async def put(self, key: str, data: bytes) -> None:
        _validate_key(key)
        try:
            await asyncio.to_thread(self._put_sync, key, data)
        except OSError as exc:
            raise BlobStoreError(f"cannot write blob {key!r} under {self.root}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        _validate_key(key)
        try:
            return await asyncio.to_thread(self._get_sync, key)
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {key!r} under {self.root}: {exc}") from exc

    async def list(self, prefix: str) -> list[str]:
        try:
            return await asyncio.to_thread(self._list_sync, prefix)
        except OSError as exc:
            raise BlobStoreError(f"cannot list blobs {prefix!r} under {self.root}: {exc}") from exc

    async def put_many(self, items: Sequence[tuple[str, bytes]], *, durable: bool = True) -> None:
        """Write several objects in one thread hop; `durable=False` skips the fsyncs (for data that
        can be rebuilt from a durable copy) and hands the batch to the `writer` child pool; without
        one (or when it cannot take the batch), up to `_INLINE_MAX_ITEMS` of those are written on
        the loop itself."""
        for key, _ in items:
            _validate_key(key)
        try:
            if not durable and self._writer is not None:
                try:
                    await self._writer.run(_write_rebuildable, self._root, list(items))
                    return
                except ChildPoolUnavailable:
                    pass  # written here instead
            if not durable and len(items) <= _INLINE_MAX_ITEMS:
                # Rebuildable copies (no fsync) go to the page cache in ~40 us each. Written right
                # here, they cost the loop that much; from a worker thread, each of their syscalls
                # had to win the GIL back from the busy loop (up to the 5 ms switch interval each),
                # which made the fan-out the worker's bottleneck.
                self._put_many_sync(items, durable)
                return
            await asyncio.to_thread(self._put_many_sync, items, durable)
        except OSError as exc:
            raise BlobStoreError(f"cannot write {len(items)} blobs under {self.root}: {exc}") from exc

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        for key in keys:
            _validate_key(key)
        try:
            await asyncio.to_thread(self._delete_sync, list(keys))
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blobs under {self.root}: {exc}") from exc

    async def ping(self) -> None:
        try:
            await asyncio.to_thread(self._ping_sync)
        except OSError as exc:
            raise BlobStoreError(f"blob directory {self.root} is unusable: {exc}") from exc

    async def close(self) -> None:
        return None
