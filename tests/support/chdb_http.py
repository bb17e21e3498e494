"""ClickHouse's HTTP interface over one chDB session: a stand-in server for tests of the
external-ClickHouse path (clickhouse-connect). Not a server: no auth, TLS, sessions or response compression
(lz4 and gzip request bodies are accepted, as clickhouse-connect compresses inserts). A multipart/form-data
body carries the query and its parameters as fields, as clickhouse-connect sends them once the bound
values pass 4 KiB.

    python -m tests.support.chdb_http --path DIR --host 127.0.0.1 --port N
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import gzip
import json
import re
import signal
import threading
from typing import Any
from urllib.parse import parse_qsl

import lz4.frame

_INSERT = re.compile(rb"^\s*(INSERT\s+INTO\s+.+?)\s+FORMAT\s+(\w+)[ \t]*\r?\n?", re.IGNORECASE | re.DOTALL)
_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)


def form_fields(content_type: bytes, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body, by name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            fields[str(name)] = payload.decode()
    return fields


class ChdbHttp:
    def __init__(self, path: str) -> None:
        from chdb import session

        self.session = session.Session(f"{path}?session_timezone=UTC")
        self.lock = threading.Lock()
        self.database = "default"

    def run(self, args: dict[str, str], body: bytes) -> tuple[bytes, str]:
        """Execute one request; returns (answer bytes, output format)."""
        with self.lock:
            database = args.get("database") or "default"
            if database != self.database:
                self.session.query(f"USE `{database.replace('`', '``')}`")
                self.database = database
            sql = args.get("query", "").encode() + (b"\n" if "query" in args and body else b"") + body
            insert = _INSERT.match(sql)
            if insert is not None:
                with self.session.send_insert(insert.group(1).decode(), insert.group(2).decode()) as inserter:
                    inserter.append(sql[insert.end() :])
                    inserter.finish()
                return b"", "TabSeparated"
            text = sql.decode()
            embedded = _FORMAT.search(text)
            fmt = embedded.group(1) if embedded else args.get("default_format", "TabSeparated")
            params = {k[6:]: v for k, v in args.items() if k.startswith("param_")}
            result = self.session.query(text, fmt, params=params)
            return result.bytes() or b"", fmt

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        encoding = dict(scope["headers"]).get(b"content-encoding", b"")
        if encoding == b"lz4":
            body = lz4.frame.decompress(body)
        elif encoding == b"gzip":
            body = gzip.decompress(body)
        args = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if content_type.startswith(b"multipart/form-data"):
            args.update(form_fields(content_type, body))
            body = b""
        headers = [(b"x-clickhouse-server-display-name", b"chdb-http"), (b"x-clickhouse-timezone", b"UTC")]
        if scope["path"] == "/ping" or (scope["method"] == "GET" and not args and not body):
            status, answer = 200, b"Ok.\n"
        else:
            try:
                answer, fmt = await asyncio.to_thread(self.run, args, body)
                status = 200
                headers.append((b"x-clickhouse-format", fmt.encode()))
                headers.append((b"x-clickhouse-summary", json.dumps({"read_rows": "0"}).encode()))
            except Exception as exc:  # every engine error is ClickHouse's answer to the client
                message = str(exc)
                status, answer = 500, message[max(message.find("Code: "), 0) :].encode()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


async def serve(path: str, host: str, port: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    app = ChdbHttp(path)
    config = Config()
    config.bind = [f"{host}:{port}"]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        app.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    ns = parser.parse_args()
    asyncio.run(serve(ns.path, ns.host, ns.port))


if __name__ == "__main__":
    main()
