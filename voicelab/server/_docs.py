"""The API docs (``/openapi.json``, ``/docs``, ``/redoc``), behind the API key.

``create_app`` builds the app with ``docs_url=None, redoc_url=None, openapi_url=None`` so
that FastAPI's own, unguarded copies do not exist. ``/docs`` embeds the schema, so the
page works for a client that sends the key only with the page request.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from voicelab.server._deps import RequireApiKey

__all__ = ["router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(RequireApiKey("the API docs"))])


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_ui_parameters={"spec": request.app.openapi()},
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title=f"{request.app.title} - ReDoc")
