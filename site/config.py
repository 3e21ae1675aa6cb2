"""Configuration from the environment (SPEC 6)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def instance_dir() -> Path:
    path = Path(os.environ.get("EPERMIT_INSTANCE", Path.cwd() / "instance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _development_secret(instance: Path) -> str:
    # Generated once and kept, so restarts do not sign everyone out.
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def from_environment() -> dict[str, Any]:
    env = os.environ
    instance = instance_dir()
    production = env.get("EPERMIT_ENV", "development") == "production"
    secret = env.get("SECRET_KEY")
    if not secret:
        if production:
            raise RuntimeError("SECRET_KEY must be set in production")
        secret = _development_secret(instance)
    return {
        "SECRET_KEY": secret,
        "PRODUCTION": production,
        "DATABASE_URL": env.get("DATABASE_URL", f"sqlite:///{instance / 'epermit.db'}"),
        "SMS_BACKEND": env.get("SMS_BACKEND", "log" if production else "file"),
        "SMS_OUTBOX": env.get("SMS_OUTBOX", str(instance / "sms-outbox.jsonl")),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", "epermit"),
        # Only for benchmarks that sign in thousands of people from one address.
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") != "0",
        "CODE_TTL_SECONDS": int(env.get("CODE_TTL_SECONDS", "300")),
        "PERMIT_CODE_TTL_SECONDS": int(env.get("PERMIT_CODE_TTL_SECONDS", "300")),
        "SESSION_IDLE_SECONDS": int(env.get("SESSION_IDLE_SECONDS", "1800")),
        # Staff sessions see a whole district's register: they end sooner (SPEC 12.1).
        "STAFF_IDLE_SECONDS": int(env.get("STAFF_IDLE_SECONDS", "900")),
        "SESSION_COOKIE_SECURE": production,
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", ""),
        # How many reverse proxies stand in front and append to X-Forwarded-*; 0 trusts none,
        # so that nobody can pick their own client address by sending the header.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
    }
