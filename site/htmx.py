"""The one module that knows about htmx (SPEC 4.5).

A page template extends base.html, which extends the whole-page layout or, for an htmx swap,
the partial one (django-htmx, "swapping the base template"): the same template renders both,
so there is never a copy of a page as a partial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import htmx_flask
from flask import Flask, Response, g, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

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
    if g.get("htmx_whole_page"):
        return False
    return bool(headers) and not headers.history_restore_request


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


def follow(
    url: str, page: Callable[[], BaseResponse], *, whole_page: bool = False
) -> BaseResponse:
    """Where a POST (or a wizard's start) leads. Without htmx a 303 to `url` (SPEC 4.1); for
    an htmx swap that page itself, with `HX-Push-Url` so the address bar shows it: one round
    trip instead of two, 0.9 s a step on 2G (SPEC 4.5, 8). `page` renders what a GET of
    `url` would answer. `whole_page` when more than <main> changes (signing in: the header
    names who is signed in): the full page, swapped in for the body."""
    if not is_partial():
        return redirect(url, 303)
    if whole_page:
        g.htmx_whole_page = True
        g.page_url = url  # what the page's own links lead back to (layouts/full.html)
    response = page()
    if response.status_code < 300:
        response.headers["HX-Push-Url"] = url
        if whole_page:
            response.headers["HX-Retarget"] = "body"
            response.headers["HX-Reswap"] = "innerHTML show:window:top"
    return response


def leave(url: str) -> BaseResponse:
    """A whole-page move (an ended session to the sign-in page): htmx would swap the sign-in
    form into <main> under a header still naming who was signed in, so an htmx request is
    told to load `url` as a page (`HX-Redirect`); any other gets a 303."""
    if request.headers.get("HX-Request"):
        return Response("", 200, {"HX-Redirect": url})
    return redirect(url, 303)
