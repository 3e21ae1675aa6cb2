"""Start page, health check and error pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, jsonify, redirect, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from epermit.htmx import render_page
from epermit.templating import LARGE_TEXT_COOKIE
from epermit.views._common import current_person, dbs
from epermit.views.auth import _safe_next

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response:
    return render_page(
        "main/index.html", person=current_person(), signed_out=request.args.get("signed_out") == "1"
    )


@bp.get("/text-size")
def text_size() -> BaseResponse:
    """大字模式 on or off, then back to the page it was chosen on. A plain link and a cookie,
    so it works without JavaScript; only a display preference, so a GET may set it."""
    response = redirect(_safe_next(request.args.get("next")), 303)
    if request.args.get("large") == "1":
        response.set_cookie(
            LARGE_TEXT_COOKIE, "1", max_age=365 * 24 * 3600, httponly=True, samesite="Lax",
            secure=request.is_secure,
        )
    else:
        response.delete_cookie(LARGE_TEXT_COOKIE)
    return response


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        dbs().execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


ERRORS = {
    400: ("请求无法处理", "页面已过期或提交的内容不完整。请返回上一页，刷新后重新提交。"),
    403: ("无权访问", "您没有权限查看此页面。"),
    404: ("找不到页面", "您访问的页面不存在，或者您无权查看。请检查网址是否正确。"),
    405: ("请求无法处理", "请从页面上的按钮或链接进入。"),
    429: ("操作过于频繁", "您的操作过于频繁，请稍后再试。"),
    # A crash rolls the request's transaction back: this step changed nothing, earlier ones stay.
    500: (
        "系统繁忙",
        "抱歉，系统暂时出现问题，本次提交没有生效，也没有作任何更改。之前已完成的步骤仍然保存着，请稍后再试。",
    ),
}


def register_error_pages(app: Flask) -> None:
    def render_error(code: int) -> Response:
        heading, message = ERRORS.get(code, ERRORS[500])
        return render_page("main/error.html", status=code, heading=heading, message=message)

    @app.errorhandler(CSRFError)
    def _csrf(_error: CSRFError) -> Response:
        return render_error(400)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def _crash(error: Exception) -> Response:
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(500)
