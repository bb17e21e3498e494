"""API-key material exactly as Langfuse makes and checks it (pure; bcrypt lives in services.auth).

- keys: `pk-lf-<uuid4>` / `sk-lf-<uuid4>`;
- fast hash: sha256hex(secret ‖ sha256hex(SALT));
- display key: first 6 characters, `...`, last 4 characters;
- headers: `Basic base64(pk:sk)` gives access level "all", `Bearer pk` gives "scores".
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import uuid
from dataclasses import dataclass

CONFIRM_HOST = ". Confirm that you've configured the correct host."
MSG_NO_HEADER = "No authorization header"
MSG_INVALID_HEADER = "Invalid authorization header"
MSG_MALFORMED_BASIC = "Invalid authorization header" + CONFIRM_HOST
MSG_INVALID_CREDENTIALS = "Invalid credentials" + CONFIRM_HOST
MSG_INVALID_PUBLIC_KEY = "Invalid public key" + CONFIRM_HOST
MSG_NEED_BASIC = "Access denied - need to use basic auth with secret key"


class AccessLevel(enum.StrEnum):
    ALL = "all"
    SCORES = "scores"


@dataclass(frozen=True)
class BasicCredentials:
    public_key: str
    secret_key: str


@dataclass(frozen=True)
class BearerCredentials:
    public_key: str


class AuthHeaderError(Exception):
    """The Authorization header is missing or malformed; the message is Langfuse's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def generate_key_pair() -> tuple[str, str]:
    return f"pk-lf-{uuid.uuid4()}", f"sk-lf-{uuid.uuid4()}"


def fast_hash(secret_key: str, salt: str) -> str:
    salt_hex = hashlib.sha256(salt.encode()).hexdigest()
    return hashlib.sha256(secret_key.encode() + salt_hex.encode()).hexdigest()


def display_secret_key(secret_key: str) -> str:
    return f"{secret_key[:6]}...{secret_key[-4:]}"


def parse_authorization(header: str | None) -> BasicCredentials | BearerCredentials:
    """Parse an Authorization header the way Langfuse does, raising its messages."""
    if header is None:
        raise AuthHeaderError(MSG_NO_HEADER)
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[len("Basic ") :].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthHeaderError(MSG_MALFORMED_BASIC) from exc
        parts = decoded.split(":")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise AuthHeaderError(MSG_MALFORMED_BASIC)
        return BasicCredentials(public_key=parts[0], secret_key=parts[1])
    if header.startswith("Bearer "):
        token = header[len("Bearer ") :].strip()
        if not token:
            raise AuthHeaderError(MSG_MALFORMED_BASIC)
        return BearerCredentials(public_key=token)
    raise AuthHeaderError(MSG_INVALID_HEADER)
