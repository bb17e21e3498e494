"""The blob-store port: where every accepted SDK event is kept before processing.

Backends: a local directory (`localfs`) and S3-compatible storage through aioboto3 (`s3`).
Keys are plain strings laid out by `langfuse_aio.domain.blob_keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class BlobStoreError(Exception):
    """The blob store failed or is unreachable."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def put_many(self, items: Sequence[tuple[str, bytes]], *, durable: bool = True) -> None:
        """Write several objects; with `durable=False` a backend may skip its sync-to-disk step."""

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises KeyError if it does not exist."""

    async def list(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete keys; missing keys are ignored."""

    async def ping(self) -> None:
        """Raise BlobStoreError unless the store answers."""

    async def close(self) -> None: ...
