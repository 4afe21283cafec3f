"""The review app: FastAPI with server-rendered pages, a little JavaScript, strict headers.

`create_app` wires routers, the security headers, the static files and the error pages around a
`Ledger`; `cradle review serve` runs it with uvicorn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from manifests.ledger import Ledger
from review.deps import SAFE_METHODS, NotSignedIn, csrf_checked
from review.pages import HERE, render
from review.routes import admin, auth, clips, queue
from review.security import SECURITY_HEADERS, ClientLimiter
from review.settings import ReviewSettings

# Reachable without a session: the login form and the CSS/JS it loads. Nothing else.
PUBLIC_PATHS = ("/login", "/static")


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_app(ledger: Ledger, settings: ReviewSettings, home: Path,
               label_names: Mapping[str, str] | None = None) -> FastAPI:
    """The app over `ledger` and the data root `home` (the ledger names files relative to it);
    `label_names` maps AudioSet MIDs to names for display."""
    app = FastAPI(title="Cradle review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ledger = ledger
    app.state.settings = settings
    app.state.home = Path(home)
    app.state.label_names = dict(label_names or {})
    app.state.login_limiter = ClientLimiter(settings.login_attempts, settings.login_window_s)

    app.include_router(auth.public)
    guarded = [Depends(csrf_checked)]
    for router in (auth.signed, queue.router, clips.router, admin.router):
        app.include_router(router, dependencies=guarded)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(NotSignedIn)
    def _sign_in(request: Request, _: NotSignedIn) -> Response:
        if request.method in SAFE_METHODS and "text/html" in request.headers.get("accept", ""):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return PlainTextResponse("Sign in first.", status_code=401)

    @app.exception_handler(HTTPException)
    def _http_error(request: Request, error: HTTPException) -> Response:
        return _error_page(request, error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, error: RequestValidationError) -> Response:
        fields = sorted({str(e["loc"][-1]) for e in error.errors() if e.get("loc")})
        return _error_page(request, 422, "The request is not valid"
                           + (f" ({', '.join(fields)})." if fields else "."))

    return app


def _error_page(request: Request, status: int, message: str) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse(message, status_code=status)
    return render(request, "message.html", status, title=f"Error {status}", message=message)
