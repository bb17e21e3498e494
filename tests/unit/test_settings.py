from pathlib import Path

import pytest

from langfuse_aio.settings import Mode, SettingsError, load_settings


def test_defaults_are_embedded_everywhere() -> None:
    s = load_settings({"LANGFUSE_AIO_DATA_DIR": "/tmp/x"})
    assert s.all_embedded
    assert (s.host, s.port) == ("0.0.0.0", 3000)
    assert s.data_dir == Path("/tmp/x")
    assert s.cache_api_key_enabled is False and s.cache_api_key_ttl_seconds == 120


def test_langfuse_names_are_read() -> None:
    s = load_settings({
        "DATABASE_URL": "postgresql://u:p@db:5432/lf", "SALT": "s",
        "CLICKHOUSE_URL": "http://ch:8123", "CLICKHOUSE_USER": "u", "CLICKHOUSE_PASSWORD": "p",
        "CLICKHOUSE_CLUSTER_ENABLED": "true", "CLICKHOUSE_DB": "lf",
        "REDIS_HOST": "r", "REDIS_PORT": "6380", "REDIS_AUTH": "pw",
        "LANGFUSE_S3_EVENT_UPLOAD_BUCKET": "b", "LANGFUSE_S3_EVENT_UPLOAD_PREFIX": "events/",
        "LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE": "true", "LANGFUSE_CACHE_API_KEY_ENABLED": "true",
        "HOSTNAME": "127.0.0.1", "PORT": "4000",
    })
    assert s.database_url == "postgresql://u:p@db:5432/lf"
    assert s.clickhouse.url == "http://ch:8123" and s.clickhouse.cluster_enabled and s.clickhouse.database == "lf"
    assert s.redis.url == "redis://:pw@r:6380"
    assert s.s3.bucket == "b" and s.s3.prefix == "events/" and s.s3.force_path_style
    assert s.cache_api_key_enabled and (s.host, s.port) == ("127.0.0.1", 4000)
    assert not s.all_embedded


def test_connection_string_wins_over_redis_host() -> None:
    s = load_settings({"REDIS_CONNECTION_STRING": "redis://a:1/2", "REDIS_HOST": "b"})
    assert s.redis.url == "redis://a:1/2"


def test_empty_strings_count_as_unset() -> None:
    s = load_settings({"DATABASE_URL": "", "CLICKHOUSE_URL": " ", "PORT": ""})
    assert s.database_url is None and s.clickhouse.url is None and s.port == 3000


def test_cli_flags_override_hostname_and_port() -> None:
    s = load_settings({"HOSTNAME": "container-id", "PORT": "4000"}, host="127.0.0.1", port=5000)
    assert (s.host, s.port) == ("127.0.0.1", 5000)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({
            "PORT": "http", "CLICKHOUSE_URL": "ch:8123", "DATABASE_URL": "mysql://x",
            "LANGFUSE_CACHE_API_KEY_ENABLED": "maybe", "LANGFUSE_S3_EVENT_UPLOAD_PREFIX": "events",
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-1",
        })
    text = str(info.value)
    for name in ("PORT", "CLICKHOUSE_URL", "DATABASE_URL", "LANGFUSE_CACHE_API_KEY_ENABLED",
                 "LANGFUSE_S3_EVENT_UPLOAD_PREFIX", "LANGFUSE_INIT_PROJECT_SECRET_KEY"):
        assert name in text
    assert len(info.value.problems) >= 6


def test_salt_is_required_with_an_external_database() -> None:
    with pytest.raises(SettingsError, match="SALT"):
        load_settings({"DATABASE_URL": "postgresql://db/lf"})


@pytest.mark.parametrize("mode", [Mode.WEB, Mode.WORKER])
def test_split_modes_refuse_embedded_clickhouse_and_say_why(mode: Mode) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({}, mode=mode)
    assert "CLICKHOUSE_URL" in str(info.value) and "one process" in str(info.value)


def test_split_mode_starts_on_shared_services() -> None:
    s = load_settings({"CLICKHOUSE_URL": "http://ch:8123", "DATABASE_URL": "postgresql://db/lf",
                       "SALT": "x", "REDIS_HOST": "r"}, mode=Mode.WEB)
    assert s.clickhouse.url == "http://ch:8123"
