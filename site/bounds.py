"""Bounds on what a request may carry: the size of its body, and the row ids in its URL.

Every body is held to `FORM_MAX` (64 KB: the largest form is a few KB). An endpoint that
takes more, such as the workspace's file upload (SPEC 10.5, 2 MB), says so where it is
declared, and nowhere else:

    @bp.post("/workspace/upload")
    @bounds.accepts_body(bounds.UPLOAD_MAX)
    def upload(): ...

A body over its bound is refused with 413 before it is read (werkzeug compares the
Content-Length, and stops a chunked body at the bound), so a 50 MB post costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app
from flask import Request as FlaskRequest
from werkzeug.routing import IntegerConverter

from epermit.sql import ID_MAX

F = TypeVar("F", bound=Callable[..., Any])

FORM_MAX = 64 * 1024
UPLOAD_MAX = 2 * 1024 * 1024


def accepts_body(max_bytes: int) -> Callable[[F], F]:
    """Let this view's requests carry up to `max_bytes` instead of FORM_MAX."""

    def mark(view: F) -> F:
        # A function object takes any attribute, though its type declares none.
        view.max_body = max_bytes  # type: ignore[attr-defined]
        return view

    return mark


class BoundedRequest(FlaskRequest):
    @property
    def max_content_length(self) -> int | None:
        # Looked up per request from the matched view, so that the bound is known before
        # anything (CSRF's check first of all) reads the form.
        if self._max_content_length is not None:  # set on this very request
            return self._max_content_length
        view = current_app.view_functions.get(self.endpoint or "")
        bound = getattr(view, "max_body", None)
        return bound if bound is not None else current_app.config["MAX_CONTENT_LENGTH"]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


class IdConverter(IntegerConverter):
    """`<id:member_id>`: a row id, or no route at all (404) for one no row can have."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=ID_MAX)


def init_app(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = FORM_MAX
    # On top of the request class other extensions chose (htmx-flask's): call after them.
    app.request_class = type("BoundedRequest", (BoundedRequest, app.request_class), {})
    app.url_map.converters["id"] = IdConverter
