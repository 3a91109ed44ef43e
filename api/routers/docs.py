"""The API documentation pages, Swagger UI (``/docs``) and ReDoc (``/redoc``), served
with their scripts from ``api/static/vendor`` (swagger-ui-dist 5, Apache-2.0; redoc 2,
MIT), so they render offline and load no third-party script on the API's origin.
Swagger UI 5 and ReDoc 2 read the OpenAPI 3.1 document FastAPI generates.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor"


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@router.get("/docs", operation_id="getSwaggerUi", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the service's OpenAPI document, from the vendored scripts."""
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - API",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{root}{VENDOR}/swagger-ui/favicon-32x32.png")


@router.get("/docs/oauth2-redirect", operation_id="getSwaggerUiRedirect",
            response_class=HTMLResponse)
def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", operation_id="getRedoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the service's OpenAPI document, from the vendored script (no web fonts)."""
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False)
