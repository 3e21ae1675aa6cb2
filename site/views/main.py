"""Start page, health check and error pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, g, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from epermit import db
from epermit.htmx import render_page
from epermit.views._common import current_person, dbs

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response:
    return render_page(
        "main/index.html", person=current_person(), signed_out=request.args.get("signed_out") == "1"
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        dbs().execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


ERRORS = {
    400: ("请求无法处理", "页面已过期或提交的内容不完整。请返回上一页,刷新后重新提交。"),
    403: ("无权访问", "您没有权限查看此页面。"),
    404: ("找不到页面", "您访问的页面不存在,或者您无权查看。请检查网址是否正确。"),
    405: ("请求无法处理", "请从页面上的按钮或链接进入。"),
    413: (
        "提交的内容过大",
        "您提交的内容超过了允许的大小。请返回上一页,删减内容或换一个较小的文件后重新提交。",
    ),
    429: ("操作过于频繁", "您的操作过于频繁,请稍后再试。"),
    # A crash rolls the request's transaction back: this step changed nothing, earlier ones stay.
    500: (
        "系统繁忙",
        "抱歉,系统暂时出现问题,本次提交没有生效,也没有作任何更改。之前已完成的步骤仍然保存着,请稍后再试。",
    ),
    503: (
        "系统暂时无法使用",
        "系统正忙或正在维护,本次提交没有生效,也没有作任何更改。之前已完成的步骤仍然保存着,请过一会儿再试。",
    ),
}
# How long a client is asked to wait after a 503: the database is restarting or busy.
RETRY_AFTER_SECONDS = 10
# The last resort, when even the error page cannot be rendered: no template, no database.
BARE_ERROR = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>系统繁忙 - 广东省电子居住证</title></head><body><main id=\"main\">"
    "<h1>系统繁忙</h1><p>抱歉,系统暂时出现问题,本次提交没有生效。请稍后再试。</p>"
    '<p><a href="/">返回首页</a></p></main></body></html>'
)


def register_error_pages(app: Flask) -> None:
    def without_database() -> None:
        # Whatever the request did is rolled back, and the page must not need the database:
        # it names nobody as signed in (templating._people).
        db.discard_session()
        g.database_unavailable = True

    def render_error(code: int) -> Response:
        heading, message = ERRORS.get(code, ERRORS[500])
        if code >= 500:
            without_database()
        try:
            try:
                response = render_page(
                    "main/error.html", status=code, heading=heading, message=message
                )
            except sa.exc.SQLAlchemyError:
                # A 404 for someone signed in while the database is down: the same page,
                # without asking the database who they are.
                without_database()
                response = render_page(
                    "main/error.html", status=code, heading=heading, message=message
                )
        except Exception:  # noqa: BLE001 - an error page must always answer
            app.logger.exception("error page failed to render")
            response = Response(BARE_ERROR, status=code, mimetype="text/html")
        if code == 503:
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(CSRFError)
    def _csrf(_error: CSRFError) -> Response:
        return render_error(400)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def _crash(error: Exception) -> Response:
        if db.is_unavailable(error):
            app.logger.warning("database unavailable: %s", error)
            return render_error(503)
        app.logger.exception("unhandled error", exc_info=error)
        return render_error(500)
