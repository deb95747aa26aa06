"""Every asset the API docs and the dashboard load comes from Flightlog itself (issue 14).

FastAPI's stock /docs and /redoc load Swagger UI, ReDoc, a favicon and Google
Fonts from CDNs, so offline they are blank pages. These tests read the pages'
HTML the way a browser does, and fetch each asset it names from the app.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from api_client import app_for
from flightlog.store import Store

BASE = "http://flightlog.test"


class _AssetLinks(HTMLParser):
    """The URLs a browser would fetch to show the page: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        if wanted and found.get(wanted):
            self.urls.append(str(found[wanted]))


def asset_urls(html: str) -> list[str]:
    parser = _AssetLinks()
    parser.feed(html)
    return parser.urls


def _browser(store: Store) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(store)), base_url=BASE)


EXPECTED_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".svg": ("image/svg+xml",),
}


def test_the_asset_parser_sees_remote_urls() -> None:
    """The check below can fail: a stock FastAPI page's CDN links are found."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    stock = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="x").body).decode()
    assert any(url.startswith("https://") for url in asset_urls(stock))
    stock_redoc = bytes(get_redoc_html(openapi_url="/openapi.json", title="x").body).decode()
    assert any(url.startswith("https://") for url in asset_urls(stock_redoc))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_load_every_asset_from_flightlog(store: Store, page: str) -> None:
    async with _browser(store) as browser:
        response = await browser.get(page)
        assert response.status_code == 200
        urls = asset_urls(response.text)
        assert len(urls) >= 2, urls  # the UI's script and the favicon at least
        for url in urls:
            assert not re.match(r"(?i)^(https?:)?//", url), f"{page} loads {url} from elsewhere"
            asset = await browser.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rfind(".") :]
            content_type = asset.headers["content-type"].split(";")[0]
            assert content_type in EXPECTED_TYPES[suffix], (url, content_type)
            assert len(asset.content) > 1000, url
        # The page loads the schema from the app; the default Google Fonts stylesheet is gone.
        assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text
        assert "fonts.googleapis" not in response.text


async def test_swagger_ui_asks_no_online_validator(store: Store) -> None:
    """Swagger UI's default validator badge is an image from validator.swagger.io."""
    async with _browser(store) as browser:
        page = (await browser.get("/docs")).text
    assert '"validatorUrl": null' in page


async def test_swagger_ui_stylesheet_names_no_remote_file(store: Store) -> None:
    async with _browser(store) as browser:
        page = (await browser.get("/docs")).text
        css_url = next(url for url in asset_urls(page) if url.endswith(".css"))
        css = (await browser.get(css_url)).text
    remote = re.findall(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", css)
    assert remote == []


async def test_redoc_bundle_asks_no_cdn_for_its_logo(store: Store) -> None:
    """ReDoc draws its credit line with an image from Redocly's CDN; the served bundle does not."""
    from flightlog.api.docs_pages import REDOC_REMOTE_LOGO, assets_dir

    assert REDOC_REMOTE_LOGO in (assets_dir() / "redoc.standalone.js").read_bytes()
    async with _browser(store) as browser:
        bundle = await browser.get("/docs/static/redoc.standalone.js")
    assert bundle.status_code == 200
    assert b"cdn.redoc.ly" not in bundle.content
    assert b"Redoc" in bundle.content


async def test_openapi_and_the_oauth2_redirect_load(store: Store) -> None:
    async with _browser(store) as browser:
        schema = await browser.get("/openapi.json")
        assert schema.status_code == 200
        assert schema.json()["info"]["title"] == "Flightlog"
        assert "/api/v1/tasks" in schema.json()["paths"]
        # The docs' own routes stay out of the published contract.
        assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(schema.json()["paths"])
        redirect = await browser.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200
        assert asset_urls(redirect.text) == []


async def test_docs_assets_follow_a_mount_prefix(store: Store) -> None:
    """Behind a proxy prefix (ASGI root_path) the pages name prefixed assets."""
    transport = httpx.ASGITransport(app=app_for(store), root_path="/fl")
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        page = await browser.get("/fl/docs")
        assert page.status_code == 200
        assert all(url.startswith("/fl/docs/static/") for url in asset_urls(page.text))
        assert "'/fl/openapi.json'" in page.text


async def test_dashboard_pages_load_no_remote_asset(store: Store) -> None:
    created = await store.api_keys.create("dashboard", scopes=["read"])
    async with _browser(store) as browser:
        login = await browser.get("/login")
        assert login.status_code == 200
        signed = await browser.post("/login", data={"key": created.key, "next": "/"})
        assert signed.status_code == 303
        overview = await browser.get("/")
        assert overview.status_code == 200
        for page in (login, overview):
            urls = asset_urls(page.text)
            assert urls, "the stylesheet at least"
            for url in urls:
                assert not re.match(r"(?i)^(https?:)?//", url), url
                assert (await browser.get(url)).status_code == 200, url
