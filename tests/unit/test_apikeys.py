import base64
import hashlib

import pytest

from langfuse_aio.domain.apikeys import (
    MSG_INVALID_HEADER,
    MSG_MALFORMED_BASIC,
    MSG_NO_HEADER,
    AuthHeaderError,
    BasicCredentials,
    BearerCredentials,
    display_secret_key,
    fast_hash,
    generate_key_pair,
    parse_authorization,
)


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


def test_fast_hash_is_sha256_of_secret_and_hex_salt_digest() -> None:
    salt_hex = hashlib.sha256(b"mysalt").hexdigest()
    expected = hashlib.sha256(b"sk-lf-abc" + salt_hex.encode()).hexdigest()
    assert fast_hash("sk-lf-abc", "mysalt") == expected
    # Computed with Node's crypto the way Langfuse's apiKeys.ts does it.
    assert fast_hash("sk-lf-1234", "salt") == "433a92c86e82d867f80c744ec4eff9f0fb9412c53c123bf711bb3cc1bd20b7a4"


def test_generated_keys_have_langfuse_prefixes() -> None:
    pk, sk = generate_key_pair()
    assert pk.startswith("pk-lf-") and sk.startswith("sk-lf-") and len(sk) == len("sk-lf-") + 36


def test_display_key() -> None:
    assert display_secret_key("sk-lf-0123456789abcdef") == "sk-lf-...cdef"


def test_basic_header() -> None:
    assert parse_authorization(basic("pk:sk")) == BasicCredentials("pk", "sk")
    # Langfuse takes the first two parts only.
    assert parse_authorization(basic("pk:sk:extra")) == BasicCredentials("pk", "sk")


def test_bearer_header() -> None:
    assert parse_authorization("Bearer pk-lf-1") == BearerCredentials("pk-lf-1")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, MSG_NO_HEADER),
        ("Token abc", MSG_INVALID_HEADER),
        ("basic abc", MSG_INVALID_HEADER),
        ("Basic !!!", MSG_MALFORMED_BASIC),
        (basic("pk-only"), MSG_MALFORMED_BASIC),
        (basic(":sk"), MSG_MALFORMED_BASIC),
        (basic("pk:"), MSG_MALFORMED_BASIC),
        ("Bearer ", MSG_MALFORMED_BASIC),
    ],
)
def test_bad_headers_get_langfuse_messages(header: str | None, message: str) -> None:
    with pytest.raises(AuthHeaderError) as info:
        parse_authorization(header)
    assert info.value.message == message
