"""OpenAI BPE encodings without network access (infra-notes §5).

tiktoken downloads its `.tiktoken` files on first use. The `bpe-openai` package ships the same
cl100k_base and o200k_base files (gzip), so we write them once into a cache directory under the names
tiktoken looks for (sha1 of the download URL) and point TIKTOKEN_CACHE_DIR at it; tiktoken then
checks each file's sha256 against the hash it expects and never goes online. This runs inside the
counting process (a pool child, or the worker itself when the pool is off), before any encoding
loads. p50k_base/r50k_base (text-davinci-*, the GPT-3 base models) are not shipped: those models are
counted with cl100k_base, an estimate.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import tiktoken

OFFLINE_ENCODINGS: Final = ("cl100k_base", "o200k_base")
FALLBACK_ENCODING: Final = "cl100k_base"
_URL: Final = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_loaded: dict[str, tiktoken.Encoding] = {}  # per counting process; filled lazily, never shared


def cache_file_name(encoding_name: str) -> str:
    return hashlib.sha1(_URL.format(name=encoding_name).encode()).hexdigest()  # noqa: S324 - tiktoken's key


def _shipped_data_dir() -> Path:
    """bpe-openai's data folder, found without importing the package (its import loads every
    encoding into its own registry, slowly)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package is not installed: it ships the offline OpenAI encodings")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def seed_cache(cache_dir: Path) -> None:
    """Write the shipped encodings into `cache_dir` (atomically; files already there are kept)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    data = _shipped_data_dir()
    for name in OFFLINE_ENCODINGS:
        target = cache_dir / cache_file_name(name)
        if target.exists():
            continue
        partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
        with (data / f"{name}.tiktoken.gz").open("rb") as packed, gzip.open(packed) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)


def prepare_offline(cache_dir: str) -> None:
    """Seed the cache and make tiktoken use it in this process (pool initializer)."""
    seed_cache(Path(cache_dir))
    os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir


def encoding_for(tokenizer_model: str) -> tiktoken.Encoding:
    """The encoding tiktoken assigns to `tokenizer_model`; cl100k_base when unknown or not shipped."""
    import tiktoken
    import tiktoken.model

    try:
        name = tiktoken.model.encoding_name_for_model(tokenizer_model)
    except KeyError:
        name = FALLBACK_ENCODING
    if name not in OFFLINE_ENCODINGS:
        name = FALLBACK_ENCODING
    found = _loaded.get(name)
    if found is None:
        found = _loaded[name] = tiktoken.get_encoding(name)
    return found
