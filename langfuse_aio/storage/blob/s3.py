"""Blob store on S3-compatible storage (AWS S3, MinIO, R2, moto…) through aioboto3.

One long-lived client is opened by `open_s3` and closed by `close()`; its connection pool is sized
for concurrent ingestion (`max_pool_connections`). Keys are used as given: the Langfuse event
prefix (`LANGFUSE_S3_EVENT_UPLOAD_PREFIX`) is part of the key layout built by the domain, not
added here.

Every failure surfaces as `BlobStoreError`, except a missing key in `get`, which is `KeyError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aioboto3
import structlog
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from langfuse_aio.storage.blob.base import BlobStoreError

log = structlog.get_logger(__name__)

_DELETE_CHUNK = 1000  # the DeleteObjects limit
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_STORE_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError, OSError)


def _error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code", ""))


_PUT_MANY_CONCURRENCY = 32


class S3BlobStore:
    """`BlobStore` on one bucket. Build it with `open_s3`."""

    def __init__(self, *, bucket: str, client: Any, exit_stack: contextlib.AsyncExitStack) -> None:
        self.bucket = bucket
        self._client = client
        self._exit_stack = exit_stack
        self._closed = False

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r})"

    async def put(self, key: str, data: bytes) -> None:
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        try:
            await self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except _STORE_ERRORS as exc:
            raise BlobStoreError(f"s3 put {key!r} in bucket {self.bucket!r} failed: {exc}") from exc

    async def put_many(self, items: Sequence[tuple[str, bytes]], *, durable: bool = True) -> None:
        """Concurrent PUTs (S3 writes are durable when acknowledged, so `durable` changes nothing)."""
        semaphore = asyncio.Semaphore(_PUT_MANY_CONCURRENCY)

        async def one(key: str, data: bytes) -> None:
            async with semaphore:
                await self.put(key, data)

        await asyncio.gather(*(one(key, data) for key, data in items))

    async def get(self, key: str) -> bytes:
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                data = await body.read()
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise KeyError(key) from None
            raise BlobStoreError(f"s3 get {key!r} in bucket {self.bucket!r} failed: {exc}") from exc
        except _STORE_ERRORS as exc:
            raise BlobStoreError(f"s3 get {key!r} in bucket {self.bucket!r} failed: {exc}") from exc
        return bytes(data)

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(str(item["Key"]) for item in page.get("Contents", ()))
        except _STORE_ERRORS as exc:
            raise BlobStoreError(f"s3 list {prefix!r} in bucket {self.bucket!r} failed: {exc}") from exc
        keys.sort()
        return keys

    async def delete(self, keys: Sequence[str]) -> None:
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _DELETE_CHUNK):
            chunk = unique[start : start + _DELETE_CHUNK]
            try:
                response = await self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": True},
                )
            except _STORE_ERRORS as exc:
                raise BlobStoreError(f"s3 delete in bucket {self.bucket!r} failed: {exc}") from exc
            # Deleting a missing key is a success in S3; anything reported here is a real failure.
            errors = [e for e in response.get("Errors", ()) if e.get("Code") not in _MISSING_CODES]
            if errors:
                sample = ", ".join(f"{e.get('Key')!r}: {e.get('Code')}" for e in errors[:5])
                raise BlobStoreError(
                    f"s3 delete in bucket {self.bucket!r} failed for {len(errors)} keys ({sample})"
                )

    async def ping(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except _STORE_ERRORS as exc:
            raise BlobStoreError(f"s3 bucket {self.bucket!r} is not reachable: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._exit_stack.aclose()
        log.debug("s3_blob_store_closed", bucket=self.bucket)


async def open_s3(
    *,
    bucket: str,
    region: str | None = None,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    force_path_style: bool = False,
    max_pool_connections: int = 50,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    max_attempts: int = 5,
) -> S3BlobStore:
    """Open one long-lived S3 client for `bucket`.

    Credentials left as None come from the default AWS chain (environment, profile, instance role).
    Does not contact the server; call `ping()` to check the bucket is reachable. Throttling,
    5xx and connection errors are retried by botocore (`standard` mode, `max_attempts` in all).
    """
    config = AioConfig(
        max_pool_connections=max_pool_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path" if force_path_style else "auto"},
    )
    session = aioboto3.Session()
    exit_stack = contextlib.AsyncExitStack()
    try:
        client = await exit_stack.enter_async_context(
            session.client(
                "s3",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=config,
            )
        )
    except _STORE_ERRORS as exc:
        await exit_stack.aclose()
        raise BlobStoreError(f"cannot open an s3 client for bucket {bucket!r}: {exc}") from exc
    log.debug("s3_blob_store_opened", bucket=bucket, endpoint=endpoint, region=region)
    return S3BlobStore(bucket=bucket, client=client, exit_stack=exit_stack)
