"""Settings read from the environment: production passes `check --deploy` cleanly
and refuses to start half-configured; bad values fail with a message that names them.

Settings are module-level code, so each case runs manage.py in a fresh subprocess
with a controlled environment (nothing leaks in from the shell running the tests)."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent


def random_secret_key(length: int = 60) -> str:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": random_secret_key(),
        "ALLOWED_HOSTS": "charge.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://charge.example.com",
        "DATABASE_URL": "postgres://plugboard:secret@db.internal:5432/plugboard",
        "REDIS_URL": "redis://cache.internal:6379/0",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_check_deploy_passes_without_warnings():
    # `check --deploy` does not connect to the database: the hosts above need not exist.
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output and "W0" not in output


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "x" * 49, "django-insecure-" + random_secret_key(60)],
    ids=["missing", "empty", "too-short", "django-insecure"],
)
def test_production_refuses_a_missing_or_weak_secret_key(secret_key):
    result = manage("check", env=production_env(SECRET_KEY=secret_key))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set SECRET_KEY to a random string of at least 50 characters." in result.stderr


@pytest.mark.parametrize(
    "database_url",
    [None, "sqlite:////srv/plugboard/db.sqlite3", "mysql://plugboard:secret@db:3306/plugboard"],
    ids=["missing", "sqlite", "mysql"],
)
def test_production_refuses_a_database_other_than_postgresql(database_url):
    result = manage("check", env=production_env(DATABASE_URL=database_url))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set DATABASE_URL to a PostgreSQL database" in result.stderr


@pytest.mark.parametrize("redis_url", [None, ""], ids=["missing", "empty"])
def test_production_refuses_to_start_without_redis(redis_url):
    result = manage("check", env=production_env(REDIS_URL=redis_url))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set REDIS_URL" in result.stderr and "commands are lost" in result.stderr


def test_production_accepts_postgresql_spelled_either_way():
    for scheme in ("postgres", "postgresql"):
        env = production_env(DATABASE_URL=f"{scheme}://plugboard:secret@db.internal/plugboard")

        result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

        assert result.returncode == 0, result.stderr


def test_local_settings_use_the_development_key_only_with_debug():
    env = production_env(DJANGO_SETTINGS_MODULE="config.settings.local", SECRET_KEY=None)

    with_debug = manage("check", env={**env, "DEBUG": "true"})
    without_debug = manage("check", env={**env, "DEBUG": "false"})

    assert with_debug.returncode == 0, with_debug.stderr
    assert without_debug.returncode != 0
    assert "DEBUG is off: set SECRET_KEY" in without_debug.stderr


def test_a_garbage_boolean_stops_startup_with_its_name_and_value():
    env = production_env(DJANGO_SETTINGS_MODULE="config.settings.local", DEBUG="yes please")

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "DEBUG='yes please' is not a boolean (use true or false)." in result.stderr


@pytest.mark.parametrize(
    "raw,expected",
    [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("off", False)],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("PLUGBOARD_TEST_FLAG", raw)

    assert env_bool("PLUGBOARD_TEST_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled"])
def test_env_bool_rejects_garbage(monkeypatch, raw):
    monkeypatch.setenv("PLUGBOARD_TEST_FLAG", raw)

    with pytest.raises(ImproperlyConfigured, match=r"PLUGBOARD_TEST_FLAG=.* is not a boolean"):
        env_bool("PLUGBOARD_TEST_FLAG", False)


def test_env_bool_unset_gives_the_default(monkeypatch):
    monkeypatch.delenv("PLUGBOARD_TEST_FLAG", raising=False)

    assert env_bool("PLUGBOARD_TEST_FLAG", True) is True


def test_env_int_rejects_garbage_and_defaults_when_empty(monkeypatch):
    monkeypatch.setenv("PLUGBOARD_TEST_INT", "12kB")
    with pytest.raises(ImproperlyConfigured, match="PLUGBOARD_TEST_INT='12kB' is not an integer"):
        env_int("PLUGBOARD_TEST_INT", 1)

    monkeypatch.setenv("PLUGBOARD_TEST_INT", "")
    assert env_int("PLUGBOARD_TEST_INT", 7) == 7


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("PLUGBOARD_TEST_LIST", " a.example.com, ,b.example.com ")

    assert env_list("PLUGBOARD_TEST_LIST", []) == ["a.example.com", "b.example.com"]


def test_env_str_without_default_names_the_missing_variable(monkeypatch):
    monkeypatch.delenv("PLUGBOARD_TEST_REQUIRED", raising=False)

    with pytest.raises(ImproperlyConfigured, match="Set the PLUGBOARD_TEST_REQUIRED"):
        env_str("PLUGBOARD_TEST_REQUIRED")
