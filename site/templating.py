"""Template globals: who is signed in, whose permit is being viewed, status words."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import jinja2
from flask import Flask, g, request

from epermit import clock, forms, identity

STATUS_WORDS = {
    # {holder}: "您" on one's own page, the member's name on a family member's (issue 10).
    "valid": ("有效", "{holder}的居住证在有效期内，可以正常使用。"),
    "due": ("待签注", "已进入签注期，请在有效期截止前办理签注，逾期将中止使用。"),
    "suspended": (
        "使用功能中止",
        "居住证已超过签注有效期，使用功能已中止。补办签注后即可恢复使用，居住年限自补办之日起重新连续计算。",
    ),
    "deregistered": (
        "已注销",
        "居住证已注销，不能再使用或签注。如需继续使用，请携带身份证到居住地派出所重新申领。",
    ),
}


LARGE_TEXT_COOKIE = "large_text"


class _Template(jinja2.Template):
    """A template whose imports cost no more than a dictionary look-up.

    On every `{% import %}` Jinja asks whether the importing template has globals the
    imported one lacks (then it must render the module again), comparing the key sets
    through a ChainMap in Python: about 50 µs a page, for an answer that here is always "no"
    (every template shares the environment's globals). The same question, against the keys
    the imported template had when its module was made.
    """

    _global_keys: frozenset[str] | None = None

    def _get_default_module(self, ctx: Any = None) -> Any:
        if ctx is None or self._global_keys is None:
            module = super()._get_default_module(ctx)
            if self._module is not None:
                self._global_keys = frozenset(self.globals)
            return module
        if ctx.globals_keys - self._global_keys:
            return super()._get_default_module(ctx)
        assert self._module is not None
        return self._module


def init_app(app: Flask) -> None:
    # Before any template is loaded: each is made of this class.
    app.jinja_env.template_class = _Template

    @app.context_processor
    def _people() -> dict[str, Any]:
        from epermit.views._common import current_person, viewing

        if g.get("database_unavailable"):
            # An error page about the database must not ask it who is signed in.
            return {"signed_in": None, "viewing": None}
        signed_in = current_person()
        return {
            "signed_in": signed_in,
            "viewing": viewing() if signed_in else None,
            "shows_workspace": _shows_workspace,
        }

    @app.context_processor
    def _text_size() -> dict[str, Any]:
        # 大字模式 (issue 10): chosen in the header, kept in a cookie (views/main.text_size).
        return {"large_text": request.cookies.get(LARGE_TEXT_COOKIE) == "1"}

    app.jinja_env.filters["fromiso"] = date.fromisoformat
    app.jinja_env.filters["localdate"] = lambda moment: clock.local(moment).date()
    app.jinja_env.filters["localtime"] = clock.local
    app.jinja_env.globals.update(
        reason_words=dict(forms.REASONS),
        status_words=STATUS_WORDS,
        mask_id_number=identity.mask_id_number,
        mask_name=identity.mask_name,
        now=clock.now,
        timedelta=timedelta,
    )


def _shows_workspace() -> bool:
    """工作台 in the navigation: only for those who answer for a place (SPEC 10.1); asked
    once per request, and only by a page that draws the navigation."""
    from flask import g

    from epermit import policy
    from epermit.views._common import current_person, dbs

    if "shows_workspace" not in g:
        person = current_person()
        g.shows_workspace = bool(person and person.id and policy.has_workspace(dbs(), person.id))
    return bool(g.shows_workspace)
