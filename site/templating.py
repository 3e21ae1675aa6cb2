"""Template globals: who is signed in, whose permit is being viewed, status words."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, g

from epermit import clock, forms, identity

STATUS_WORDS = {
    "valid": ("有效", "您的居住证在有效期内,可以正常使用。"),
    "due": ("待签注", "已进入签注期,请在有效期截止前办理签注,逾期将中止使用。"),
    "suspended": (
        "使用功能中止",
        "居住证已超过签注有效期,使用功能已中止。补办签注后即可恢复使用,居住年限自补办之日起重新连续计算。",
    ),
    "deregistered": (
        "已注销",
        "居住证已注销,不能再使用或签注。如需继续使用,请携带身份证到居住地派出所重新申领。",
    ),
}


def init_app(app: Flask) -> None:
    @app.context_processor
    def _people() -> dict[str, Any]:
        from epermit.views._common import current_person, viewing

        if g.get("database_unavailable"):
            # An error page about the database must not ask it who is signed in.
            return {"signed_in": None, "viewing": None}
        signed_in = current_person()
        return {"signed_in": signed_in, "viewing": viewing() if signed_in else None}

    app.jinja_env.filters["fromiso"] = date.fromisoformat
    app.jinja_env.filters["localdate"] = lambda moment: clock.local(moment).date()
    app.jinja_env.filters["localtime"] = clock.local
    app.jinja_env.globals.update(
        reason_words=dict(forms.REASONS),
        status_words=STATUS_WORDS,
        mask_id_number=identity.mask_id_number,
        mask_name=identity.mask_name,
    )
