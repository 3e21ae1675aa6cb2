"""ePermit: Guangzhou electronic residence permit services on the web."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from epermit import (
    assets,
    bounds,
    commands,
    config,
    db,
    delivery,
    extensions,
    htmx,
    observability,
    security,
    templating,
)
from epermit.wizard import Wizard
from epermit.wizards import WIZARDS


class EPermit(Flask):
    """Flask, remembering which functions are plain `def`: Flask asks again of every hook and
    view it calls, a dozen times a request (`inspect.iscoroutinefunction`). Weakly: a bound
    method made for one call is forgotten with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            if func in self._sync_functions:
                return func
        except TypeError:  # not weakly referable
            return super().ensure_sync(func)
        result = super().ensure_sync(func)
        if result is func:
            self._sync_functions.add(func)
        return result


def create_app(
    test_config: dict[str, Any] | None = None, wizards: Iterable[Wizard] = WIZARDS
) -> Flask:
    """The application; `wizards` are the services it serves (all registered ones unless a
    test brings its own)."""
    app = EPermit(__name__, instance_path=str(config.instance_dir()))
    app.config.from_mapping(config.from_environment())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the session's own idle limit already bounds it
        TEMPLATES_AUTO_RELOAD=False,
    )
    if test_config:
        app.config.update(test_config)
    config.check_production(app.config)
    if app.config.get("TRUSTED_PROXIES"):
        # Behind a TLS proxy the client's own address is what rate limits and audit events
        # must see, and https what verification links must carry.
        hops = app.config["TRUSTED_PROXIES"]
        # Wrapping wsgi_app is how Flask's docs apply middleware; its type calls it a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    observability.init_app(app)
    db.init_app(app)
    delivery.init_app(app)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    htmx.init_app(app)
    bounds.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    commands.init_app(app)
    templating.init_app(app)

    from epermit.views import (
        _wizard,
        activity,
        auth,
        cases,
        family,
        main,
        move,
        objection,
        permit,
        staff,
        verify,
        workspace,
    )

    for module in (
        main,
        auth,
        permit,
        cases,
        family,
        verify,
        workspace,
        move,
        objection,
        activity,
        staff,
    ):
        app.register_blueprint(module.bp)
    _wizard.init_app(app, wizards)
    main.register_error_pages(app)
    return app
