"""Configuration from the environment (SPEC 6)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


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
        "SMS_OUTBOX": env.get("SMS_OUTBOX", str(instance / "sms-outbox.jsonl")),
        **_operations(env, production),
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


def _operations(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """SMS delivery, failure handling, metrics and logs (README, "Operations")."""
    backend = env.get("SMS_BACKEND", "aliyun" if production else "file")
    settings: dict[str, Any] = {
        "SMS_BACKEND": backend,
        # Only the file backend (a local append) is waited for, so that development and tests
        # find a code in sms-outbox.jsonl as soon as the page answers; a gateway never is.
        "SMS_DELIVERY_WAIT": float(
            env.get("SMS_DELIVERY_WAIT", "10" if backend == "file" else "0")
        ),
        "SMS_POLL_SECONDS": float(env.get("SMS_POLL_SECONDS", "30")),
        # Start each serving process's deliverer with its first request, not its first SMS.
        "SMS_DELIVERER_AUTOSTART": env.get("SMS_DELIVERER_AUTOSTART", "1" if production else "0")
        == "1",
        "SMS_ALIYUN_ACCESS_KEY_ID": env.get("SMS_ALIYUN_ACCESS_KEY_ID", ""),
        "SMS_ALIYUN_ACCESS_KEY_SECRET": env.get("SMS_ALIYUN_ACCESS_KEY_SECRET", ""),
        "SMS_ALIYUN_SIGN_NAME": env.get("SMS_ALIYUN_SIGN_NAME", ""),
        "SMS_ALIYUN_TEMPLATES": json.loads(env.get("SMS_ALIYUN_TEMPLATES", "{}")),
        "SMS_ALIYUN_ENDPOINT": env.get("SMS_ALIYUN_ENDPOINT", "dysmsapi.aliyuncs.com"),
        "SMS_ALIYUN_PROTOCOL": env.get("SMS_ALIYUN_PROTOCOL", "https"),
        # Seconds a request waits for SQLite's write lock before it answers 503.
        "DATABASE_LOCK_TIMEOUT": float(env.get("DATABASE_LOCK_TIMEOUT", "5")),
        # /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, it is 404.
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
    }
    if production and backend == "aliyun":
        missing = [
            key
            for key in ("ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "SIGN_NAME", "TEMPLATES")
            if not settings[f"SMS_ALIYUN_{key}"]
        ]
        if missing:
            # Refuse to start rather than take sign-ins whose codes nobody will receive.
            raise RuntimeError(
                "SMS_BACKEND=aliyun needs " + ", ".join(f"SMS_ALIYUN_{k}" for k in missing)
            )
    return settings


def check_production(settings: Mapping[str, Any]) -> None:
    """Refuse to start a production server that would build links from the request: the QR
    code's verification link would then carry whatever host a request named (issue 9)."""
    if not settings.get("PRODUCTION"):
        return
    base = settings.get("PUBLIC_BASE_URL") or ""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise RuntimeError(
            "PUBLIC_BASE_URL must be set in production to the site's origin, "
            f"such as https://epermit.example.cn (got {base!r})"
        )
