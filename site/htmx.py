"""The one module that knows about htmx (SPEC 4.5).

A page template extends base.html and fills `main`; for an htmx request the same template's
`title` and `main` blocks are rendered alone, so there is never a copy of a page as a partial.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import htmx_flask
from flask import Flask, Response, current_app, render_template, request

_extension = htmx_flask.Htmx()


def init_app(app: Flask) -> None:
    _extension.init_app(app)

    @app.after_request
    def _vary(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response


def is_partial() -> bool:
    """True for an htmx swap; a history-restore miss needs the whole page."""
    headers = request.htmx  # type: ignore[attr-defined]
    return bool(headers) and not headers.history_restore_request


_EXTENDS = re.compile(r"""{%-?\s*extends\s+["']([^"']+)["']""")


@cache
def _ancestors(template_name: str) -> tuple[str, ...]:
    loader = current_app.jinja_env.loader
    assert loader is not None
    chain: list[str] = []
    name = template_name
    while True:
        source = loader.get_source(current_app.jinja_env, name)[0]
        parent = _EXTENDS.search(source)
        if parent is None:
            return tuple(chain)
        name = parent.group(1)
        chain.append(name)


def render_page(template_name: str, status: int = 200, **context: Any) -> Response:
    partial = is_partial()
    context["partial"] = partial
    form = context.get("form")
    context.setdefault("has_errors", bool(form is not None and form.errors))
    if not partial:
        return htmx_flask.make_response(render_template(template_name, **context), status)
    template = current_app.jinja_env.get_template(template_name)
    current_app.update_template_context(context)
    ctx = template.new_context(context)
    # The ancestors' blocks (base.html's title, a wizard layout's main) join the page's own,
    # child first, as Jinja orders them for a full render.
    for ancestor in _ancestors(template_name):
        for name, block in current_app.jinja_env.get_template(ancestor).blocks.items():
            ctx.blocks.setdefault(name, []).append(block)
    title = "".join(ctx.blocks["title"][0](ctx))
    main = "".join(ctx.blocks["main"][0](ctx))
    # A top-level <title> is how htmx learns the new page title.
    return htmx_flask.make_response(f"<title>{title}</title>\n{main}", status)
