"""Token counts (tokenization/counting.py) against tiktoken itself, offline, and Langfuse's chat rules."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiktoken
from anthropic_tokenizer.anthropic_tokenizer import count_tokens as claude_reference

from langfuse_aio.tokenization import encodings
from langfuse_aio.tokenization.counting import count_tokens

CORPUS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. " * 20,
    "def tokens(text: str) -> int:\n    return len(enc.encode(text))\n\n\tif x != y:\n        pass\n",
    "日本語のテキストとカタカナ、そして漢字。한국어 문장도 있습니다.",
    "emoji 😀🎉👩‍👩‍👧 and flags 🇩🇪🇯🇵",
    "numbers 1234567890 3.14159 -42 1e10 0x1F",
    "   leading and trailing spaces   \n\n\n\r\n\t mixed whitespace ",
    "Ünïcödé àccents, ß, ﬁ ligature, Ωmega, \u200b zero width",
    '{"role": "user", "content": "json-looking text with spaces"}',
    "https://example.com/path?query=1&other=two#fragment user@example.com",
    "a" * 3000,
    "",
]
MODELS = {"gpt-4o": "o200k_base", "gpt-4": "cl100k_base", "gpt-3.5-turbo": "cl100k_base",
          "text-embedding-ada-002": "cl100k_base"}


@pytest.fixture(scope="module", autouse=True)
def offline_encodings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The shipped files seeded into a fresh cache: tiktoken never goes online here."""
    encodings.prepare_offline(str(tmp_path_factory.mktemp("tiktoken")))
    yield


def reference(encoding: str, text: str) -> int:
    return len(tiktoken.get_encoding(encoding).encode(text, allowed_special="all"))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_counts_equal_tiktoken_on_a_fixed_corpus(model: str) -> None:
    for text in CORPUS:
        parsed_like = json.dumps(json.loads(text), separators=(",", ":")) if text.startswith("{") else text
        assert count_tokens("openai", {"tokenizerModel": model}, text) == reference(MODELS[model], parsed_like), text


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_seeded_files_give_the_same_ids_as_bpe_openais_own_encoder(encoding: str) -> None:
    with warnings.catch_warnings():  # its import uses a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai
    ours, theirs = tiktoken.get_encoding(encoding), bpe_openai.get_encoding(encoding)
    for text in CORPUS:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text), text


def test_seeded_cache_files_are_the_ones_tiktoken_expects(tmp_path: Path) -> None:
    encodings.seed_cache(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        encodings.cache_file_name(name) for name in encodings.OFFLINE_ENCODINGS)


def test_special_tokens_count_as_one_token() -> None:
    assert count_tokens("openai", {"tokenizerModel": "gpt-4o"}, "<|endoftext|>") == 1


def test_chat_messages_add_langfuses_overheads() -> None:
    config = {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1}
    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "What is 2+2?", "name": "ann"}]
    expected = sum(3 + reference("o200k_base", m["role"]) + reference("o200k_base", m["content"])
                   + (reference("o200k_base", m["name"]) + 1 if "name" in m else 0) for m in messages) + 3
    assert count_tokens("openai", config, json.dumps(messages)) == expected
    # an empty stored array is still a chat: the reply primer alone
    assert count_tokens("openai", config, "[]") == 3


def test_chat_rules_need_a_chat_model_and_its_numbers() -> None:
    text = json.dumps([{"role": "user", "content": "hi"}])
    assert count_tokens("openai", {"tokenizerModel": "gpt-4o"}, text) is None  # no tokensPerMessage
    as_text = count_tokens("openai", {"tokenizerModel": "text-embedding-ada-002"}, text)
    assert as_text == reference("cl100k_base", json.dumps(json.loads(text), separators=(",", ":")))
    not_chat = json.dumps([{"role": "user", "content": ["image"]}])
    assert count_tokens("openai", {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1},
                        not_chat) == reference("o200k_base", json.dumps(json.loads(not_chat), separators=(",", ":")))


def test_unknown_tokenizers_and_models_give_no_count() -> None:
    assert count_tokens("openai", {"tokenizerModel": "gpt-4o-2024-08-06"}, "hi") is None
    assert count_tokens("openai", None, "hi") is None
    assert count_tokens("gemini", None, "hi") is None
    assert count_tokens("openai", {"tokenizerModel": "gpt-4o"}, None) is None


def test_claude_uses_the_offline_legacy_tokenizer_on_the_text_as_stored() -> None:
    for text in CORPUS:
        assert count_tokens("claude", None, text) == claude_reference(text)
    stored = '{"a": [1, 2]}'
    assert count_tokens("claude", None, stored) == claude_reference(stored)
