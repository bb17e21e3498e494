"""Token counts of an observation's stored input/output, as Langfuse counts them (spec §5.4, §3.5).

`count_tokens(tokenizer_id, config, text)` takes the text ClickHouse stores (objects as JSON, strings
raw) and returns a count or None (no count):
- `openai`: `config.tokenizerModel` must be a model tiktoken knows (Langfuse's list below). The text is
  parsed JSON-if-possible. A list of chat messages (every item has string `role` and `content`, and a
  string `name` if any) with a chat tokenizer model is counted as a chat: per message
  `tokensPerMessage` + the tokens of every truthy value under content, role, name, tool_calls,
  function_call, toolCalls, functionCall (+ `tokensPerName` when the message has a `name` key), plus
  3 for the reply primer; without numeric `tokensPerMessage`/`tokensPerName` there is no count.
  Anything else counts the tokens of the string, or of the compact JSON of a parsed non-string value.
  Special tokens such as `<|endoftext|>` are encoded as special tokens (one token each).
  One deliberate difference: a non-string value under a chat key (tool_calls) is counted as its JSON
  text; Langfuse's JavaScript stringifies such objects to "[object Object]".
- `claude`: the legacy Claude-2 BPE (`anthropic-tokenizer`, offline) of the stored text as is. It is
  not Claude 3+'s tokenizer, so these counts are estimates.
- anything else: None.
Runs in the tokenizer pool's children (or in a worker thread when the pool is off), never on the loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from langfuse_aio.domain.api_views import parse_json_if_possible
from langfuse_aio.domain.metadata import js_truthy
from langfuse_aio.tokenization.encodings import encoding_for

TIKTOKEN_MODELS: Final = frozenset({
    "davinci-002", "babbage-002", "text-davinci-003", "text-davinci-002", "text-davinci-001", "text-curie-001",
    "text-babbage-001", "text-ada-001", "davinci", "curie", "babbage", "ada", "code-davinci-002",
    "code-davinci-001", "code-cushman-002", "code-cushman-001", "davinci-codex", "cushman-codex",
    "text-davinci-edit-001", "code-davinci-edit-001", "text-embedding-ada-002", "text-similarity-davinci-001",
    "text-similarity-curie-001", "text-similarity-babbage-001", "text-similarity-ada-001",
    "text-search-davinci-doc-001", "text-search-curie-doc-001", "text-search-babbage-doc-001",
    "text-search-ada-doc-001", "code-search-babbage-code-001", "code-search-ada-code-001", "gpt2",
    "gpt-3.5-turbo", "gpt-35-turbo", "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0125", "gpt-3.5-turbo-16k", "gpt-3.5-turbo-16k-0613", "gpt-3.5-turbo-instruct",
    "gpt-3.5-turbo-instruct-0914", "gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-32k", "gpt-4-32k-0314",
    "gpt-4-32k-0613", "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "gpt-4-turbo-preview", "gpt-4-1106-preview",
    "gpt-4-0125-preview", "gpt-4-vision-preview", "gpt-4o", "gpt-4o-2024-05-13",
})
CHAT_MODELS: Final = frozenset({
    "gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-32k", "gpt-4-32k-0314", "gpt-4-32k-0613", "gpt-3.5-turbo",
    "gpt-35-turbo", "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-16k",
    "gpt-3.5-turbo-16k-0613", "gpt-4-1106-preview", "gpt-4-vision-preview", "gpt-4o-2024-05-13", "gpt-4o",
})
CHAT_KEYS: Final = frozenset({"content", "role", "name", "tool_calls", "function_call", "toolCalls", "functionCall"})
REPLY_PRIMER_TOKENS: Final = 3


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_chat(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        and ("name" not in m or isinstance(m["name"], str))
        for m in value
    )


def _openai_tokens(model: str, text: str) -> int:
    return len(encoding_for(model).encode(text, allowed_special="all"))


def _chat_count(model: str, messages: list[dict[str, Any]], per_message: float, per_name: float) -> int:
    total: float = REPLY_PRIMER_TOKENS
    for message in messages:
        total += per_message
        for key, value in message.items():
            if key in CHAT_KEYS and js_truthy(value):
                total += _openai_tokens(model, value if isinstance(value, str) else _json_text(value))
            if key == "name":
                total += per_name
    return int(total)


def openai_count(config: Any, text: str) -> int | None:
    if not isinstance(config, Mapping) or config.get("tokenizerModel") not in TIKTOKEN_MODELS:
        return None
    model = str(config["tokenizerModel"])
    parsed = parse_json_if_possible(text)
    if _is_chat(parsed) and model in CHAT_MODELS:
        per_message, per_name = config.get("tokensPerMessage"), config.get("tokensPerName")
        if not isinstance(per_message, (int, float)) or not isinstance(per_name, (int, float)):
            return None
        if isinstance(per_message, bool) or isinstance(per_name, bool):
            return None
        return _chat_count(model, parsed, per_message, per_name)
    return _openai_tokens(model, parsed if isinstance(parsed, str) else _json_text(parsed))


def claude_count(text: str) -> int:
    from anthropic_tokenizer.anthropic_tokenizer import count_tokens  # the offline Rust BPE only

    return int(count_tokens(text))


def count_tokens(tokenizer_id: str | None, config: Any, text: str | None) -> int | None:
    if text is None:
        return None
    if tokenizer_id == "openai":
        return openai_count(config, text)
    if tokenizer_id == "claude":
        return claude_count(text)
    return None


def count_pair(tokenizer_id: str | None, config: Any, texts: tuple[str | None, str | None]) -> tuple[int | None, ...]:
    """Counts of (input, output) in one call."""
    return tuple(count_tokens(tokenizer_id, config, text) for text in texts)


Request = tuple[str | None, Any, str | None, str | None]  # tokenizer id, config, input, output


def count_batch(requests: list[Request]) -> list[tuple[int | None, ...]]:
    """Counts of many observations in one call: one round trip to a pool child per batch."""
    return [count_pair(tokenizer_id, config, (text_in, text_out))
            for tokenizer_id, config, text_in, text_out in requests]
