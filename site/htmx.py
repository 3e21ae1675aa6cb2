"""The one module that knows about htmx (SPEC 4.5).

A page template extends base.html, which extends the whole-page layout or, for an htmx swap,
the partial one (django-htmx, "swapping the base template"): the same template renders both,
so there is never a copy of a page as a partial.
"""

from __future__ import annotations

from typing import Any

import htmx_flask
from flask import Flask, Response, g, render_template, request

_extension = htmx_flask.Htmx()


def init_app(app: Flask) -> None:
    _extension.init_app(app)

    @app.template_global()
    def focus_heading() -> bool:
        """Whether the page's <h1> takes focus (components/macros.html `heading`)."""
        return bool(g.get("focus_heading"))

    @app.after_request
    def _vary(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response


def is_partial() -> bool:
    """True for an htmx swap; a history-restore miss needs the whole page."""
    headers = request.htmx  # type: ignore[attr-defined]
    return bool(headers) and not headers.history_restore_request


def current_path(default: str) -> str:
    """The page the browser shows (HX-Current-URL) as a path on this site, for a fragment's
    form that leads back to it; `default` when htmx did not say."""
    url = request.htmx.current_url or default  # type: ignore[attr-defined]
    return url.replace(request.host_url[:-1], "")


def render_page(template_name: str, status: int | None = None, **context: Any) -> Response:
    """The page, or for an htmx swap its title and main region (layouts/partial.html).

    A POSTed `form` with errors answers 422 (SPEC 4.4), anything else 200, unless the
    caller says otherwise (429 for a rate limit, 409 for a refused submission).
    """
    form = context.get("form")
    context.setdefault("has_errors", bool(form is not None and form.errors))
    if status is None:
        status = 422 if request.method == "POST" and context["has_errors"] else 200
    context["partial"] = is_partial()
    # After a swap focus moves to the new <h1>, unless the error summary takes it.
    g.focus_heading = context["partial"] and not context["has_errors"]
    return htmx_flask.make_response(render_template(template_name, **context), status)
