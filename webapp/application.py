"""The FastAPI application of `segbridge serve`: pages, the API, login, errors and security headers.

`create_app(db, config)` builds it on an open store; `segbridge serve` runs it with uvicorn. The
login form is rate limited (`LoginLimiter`) and protected against login CSRF by a double-submit
cookie; the session cookie is HttpOnly, SameSite=Strict, and Secure when `secure_cookies` (TLS).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from basics.errors import BlockedError, SegbridgeError, StaleError
from core import accounts
from webapp import api, oidc, pages
from webapp.security import COOKIE, HEADERS, LoginLimiter, caller_of, guard

LOGIN_CSRF = "sb_login_csrf"


def create_app(db, config=None, *, secure_cookies: bool = False, limiter: LoginLimiter | None = None) -> FastAPI:
    app = FastAPI(title="segbridge", version="1", openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs",
                  redoc_url=None)
    app.state.db, app.state.config = db, config
    app.state.secure = secure_cookies
    app.state.limiter = limiter or LoginLimiter()
    settings = config.section("webapp") if config is not None else None
    app.state.oidc = oidc.OidcClient(settings.oidc) if settings is not None and settings.oidc else None
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    _login_routes(app)
    oidc.routes(app)
    _handlers(app)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in HEADERS.items():
            if name == "Content-Security-Policy" and request.url.path.startswith("/api/v1/docs"):
                continue  # the OpenAPI viewer loads its script from a CDN
            response.headers.setdefault(name, value)
        if request.url.scheme == "https" or app.state.secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    return app


def _status_of(exc: SegbridgeError) -> int:
    if isinstance(exc, StaleError | BlockedError):
        return 409
    text = exc.message
    return 404 if "not found" in text or "does not exist" in text or text.startswith("no ") else 400


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(SegbridgeError)
    async def segbridge_error(request: Request, exc: SegbridgeError):
        body = {"detail": exc.message, "hint": exc.hint}
        if request.url.path.startswith("/api/"):
            return JSONResponse(body, status_code=_status_of(exc))
        return HTMLResponse(pages.templates.get_template("error.html").render(detail=exc.message, hint=exc.hint),
                            status_code=_status_of(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 401 and not request.url.path.startswith("/api/") and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        if not request.url.path.startswith("/api/"):
            return HTMLResponse(pages.templates.get_template("error.html").render(detail=exc.detail, hint=None),
                                status_code=exc.status_code)
        return await http_exception_handler(request, exc)


def _login_routes(app: FastAPI) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request):
        token = secrets.token_urlsafe(32)
        response = pages.templates.TemplateResponse(request, "login.html", {"csrf": token, "error": request.query_params.get("error"),
                                                                         "sso": app.state.oidc is not None})
        response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=app.state.secure, path="/login")
        return response

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        name, password = str(form.get("name") or "")[:80], str(form.get("password") or "")
        sent, cookie = str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF, "")
        if not cookie or not hmac.compare_digest(sent, cookie):
            raise HTTPException(403, "missing or wrong CSRF token: reload the login page")
        limiter: LoginLimiter = app.state.limiter
        address = request.client.host if request.client else "?"
        if limiter.blocked(name, address):
            raise HTTPException(429, "too many failed logins; wait 15 minutes")
        user = accounts.authenticate(app.state.db, name, password)
        if user is None:
            limiter.failed(name, address)
            return RedirectResponse("/login?error=wrong+name+or+password", status_code=303)
        limiter.succeeded(name)
        sid, _ = accounts.open_session(app.state.db, user.name)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=app.state.secure,
                            max_age=accounts.SESSION_HOURS * 3600)
        response.delete_cookie(LOGIN_CSRF, path="/login")
        return response

    @app.post("/logout")
    async def logout(request: Request, _=guard("read")):
        if caller_of(request) is not None and request.cookies.get(COOKIE):
            accounts.close_session(app.state.db, request.cookies[COOKIE])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response
