"""Request ids, JSON log lines and Prometheus metrics (README, "Operations").

Every request gets an id (X-Request-Id, also in every log line it causes); each request ends
with one JSON log line: endpoint, status, duration. `/metrics` answers Prometheus only with
`Authorization: Bearer $METRICS_TOKEN` (404 without a token configured, so it is never
public): requests and latency by endpoint, rate-limit refusals, and the SMS outbox's backlog
and dead messages, which are counted in the database at scrape time, so every worker and
host reports the same figures. With several gunicorn workers, counters live in
`PROMETHEUS_MULTIPROC_DIR` (gunicorn.conf.py) and the scrape adds up every worker's.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, abort, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from epermit import db
from epermit.services import sms

REQUESTS = Counter(
    "epermit_requests_total",
    "Requests answered, by endpoint and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "epermit_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REFUSALS = Counter(
    "epermit_rate_limit_refusals_total",
    "Requests refused for a rate limit or budget (429).",
    ["endpoint"],
)
# A request id we accept from a proxy: short and plain, so that it cannot forge log lines.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
# The methods counted by name in the metrics; any other a client sends counts as "other",
# so that made-up methods cannot grow the metrics without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# What json.dumps(line, ensure_ascii=False, default=str) makes, with the encoder made once.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id of the request being answered."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = g.get("request_id") if has_request_context() else None
        if request_id is not None:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _JSON.encode(line)


def _configure_logging(app: Flask) -> None:
    if app.config.get("LOG_FORMAT") != "json":
        return
    # One handler on the package's logger: app.logger ("epermit") and every module's logger
    # below it (epermit.services.sms, epermit.delivery, …) write through it.
    logger = logging.getLogger("epermit")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        from flask.logging import default_handler

        logger.removeHandler(default_handler)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


class OutboxCollector(Collector):
    """The outbox's figures, read from the database when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "epermit_sms_outbox_waiting", "SMS not yet delivered (due or backing off)."
        )
        dead = GaugeMetricFamily(
            "epermit_sms_outbox_dead", "SMS given up after their last attempt (flask sms-dead)."
        )
        with db.session_scope(db.engine_of(self.app), write=False) as session:
            figures = sms.backlog(session)
        waiting.add_metric([], figures.waiting)
        dead.add_metric([], figures.dead)
        yield waiting
        yield dead


def _registry(app: Flask) -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (REQUESTS, LATENCY, REFUSALS):
            registry.register(metric)
    registry.register(OutboxCollector(app))
    return registry


def init_app(app: Flask) -> None:
    _configure_logging(app)
    access = logging.getLogger("epermit.access")

    @app.before_request
    def _start() -> None:
        # Each name read through Flask's context proxies costs a look-up: read them once.
        here = g._get_current_object()
        here.started = time.perf_counter()
        offered = request.headers.get("X-Request-Id", "")
        # Only a proxy we trust may name the request (so its log and ours share one id).
        trusted = app.config.get("TRUSTED_PROXIES") and _REQUEST_ID.fullmatch(offered)
        here.request_id = offered if trusted else secrets.token_hex(8)

    # Each (endpoint, method, status)'s metric children, looked up by label once: the label
    # look-up takes a lock and builds a key on every call. Endpoints and statuses are
    # Flask's own; methods are anyone's, so an unknown one is counted as "other".
    children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def _metrics_for(endpoint: str, method: str, status: int) -> tuple[Any, Any, Any]:
        key = (endpoint, method, status)
        found = children.get(key)
        if found is None:
            label = method if method in _METHODS else "other"
            found = children[key] = (
                REQUESTS.labels(endpoint, label, str(status)),
                LATENCY.labels(endpoint, label),
                REFUSALS.labels(endpoint) if status == 429 else None,
            )
        return found

    @app.after_request
    def _finish(response: Response) -> Response:
        asked = request._get_current_object()  # type: ignore[attr-defined]
        here = g._get_current_object()
        endpoint = asked.endpoint or "unmatched"
        started = getattr(here, "started", None)
        duration = 0.0 if started is None else time.perf_counter() - started
        request_id = getattr(here, "request_id", None)
        if request_id is not None:
            response.headers["X-Request-Id"] = request_id
        status = response.status_code
        if endpoint not in ("static", "observability_metrics"):
            counted, latency, refusals = _metrics_for(endpoint, asked.method, status)
            counted.inc()
            latency.observe(duration)
            if refusals is not None:
                refusals.inc()
        if access.isEnabledFor(logging.INFO):
            # The record made and handled as `access.info` would, without first walking the
            # stack for the caller's file and line, which no access line shows.
            fields = {
                "method": asked.method,
                "path": asked.path,
                "endpoint": endpoint,
                "status": status,
                "duration_ms": round(duration * 1000, 1),
            }
            access.handle(
                access.makeRecord(
                    access.name,
                    logging.INFO,
                    __file__,
                    0,
                    "request",
                    (),
                    None,
                    extra={"fields": fields},
                )
            )
        return response

    def metrics() -> Response:
        token = current_app.config.get("METRICS_TOKEN", "")
        offered = request.headers.get("Authorization", "")
        if not token or not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            abort(404)
        return Response(generate_latest(_registry(app)), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule("/metrics", "observability_metrics", metrics)
