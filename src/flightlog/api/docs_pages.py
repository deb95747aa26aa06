"""/docs (Swagger UI) and /redoc with every asset served by Flightlog itself.

FastAPI's own docs pages load Swagger UI, ReDoc, a favicon and Google Fonts from
CDNs, so on a machine without internet they are blank. The ``fastapi-offline``
package ships current copies of those files; this module serves them under
``/docs/static`` and renders FastAPI's page templates pointing there; the one
remote image ReDoc's bundle names is swapped for an inline one. The app is
created with ``docs_url=None, redoc_url=None`` and calls :func:`install`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/static"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"

# Swagger UI shows a badge image from validator.swagger.io unless this is null:
# a request to the internet on every load, and a broken image offline.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

# ReDoc's bundle draws its "API docs by Redocly" credit with an image from Redocly's CDN,
# with no option to turn it off; the served bundle names a blank inline image instead.
REDOC_REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


def assets_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps Swagger UI's and ReDoc's files."""
    return Path(str(files("fastapi_offline") / "static"))


@cache
def redoc_bundle() -> bytes:
    """ReDoc's standalone bundle as shipped, less its one request to the internet."""
    return (
        (assets_dir() / "redoc.standalone.js").read_bytes().replace(REDOC_REMOTE_LOGO, BLANK_IMAGE)
    )


def install(app: FastAPI) -> None:
    """Add /docs, /docs/oauth2-redirect, /redoc and their assets to ``app``.

    Links carry the ASGI ``root_path``, so the pages work behind a mount prefix.
    """
    openapi_url = app.openapi_url or "/openapi.json"

    # Before the mount, which would otherwise serve the file as shipped.
    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API · Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS},
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} API · ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
