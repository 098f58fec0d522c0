"""`segbridge serve [--host H] [--port P] [--secure-cookies]`: the web app and REST API on the store.

The app (`webapp`) serves the stewards' queue, plan review, runs and quarantine pages and the API
under /api/v1 (OpenAPI at /api/v1/openapi.json). It binds 127.0.0.1 by default; put it behind a
TLS proxy and pass --secure-cookies to serve other machines. Users come from `segbridge users`.
"""

from __future__ import annotations

import typer

from segbridge.commands.common import config_of, out, store_of


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    port: int = typer.Option(8000, "--port", help="Port to listen on"),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Mark cookies Secure (behind TLS)"),
) -> None:
    """Serve the stewards' and planners' web app and the REST API on this store."""
    import uvicorn

    from core.accounts import list_users
    from webapp.application import create_app

    config = config_of(ctx)
    db = store_of(config)
    if not list_users(db):
        out.print("no users yet: add one with `segbridge users add NAME --role admin`")
    out.print(f"segbridge web app on http://{host}:{port}/ (API: /api/v1, OpenAPI: /api/v1/openapi.json)")
    uvicorn.run(create_app(db, config, secure_cookies=secure_cookies), host=host, port=port,
                proxy_headers=secure_cookies, log_level="warning")
