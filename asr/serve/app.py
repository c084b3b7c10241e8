"""The HTTP face of ``asr serve`` (FastAPI): the page at ``/``, ``POST /v1/transcribe``, ``GET /v1/health``,
``GET /v1/model``. Errors are JSON objects ``{"error": "<one line>", "status": <code>}``.

Uploads (a multipart ``file`` part or the raw body) are counted while they arrive and refused past the size
limit (413), written only to a private temporary file that is removed when the request ends, and named in
messages by the client's file name without folders. No path a client sends is ever opened: the page's three
files are fixed routes, not a static folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from asr.formats import format_name, json_entry, render
from asr.limits import short
from asr.serve.service import Busy, RequestError, TooLarge, TranscriptionService, temporary_upload, upload_label

log = logging.getLogger(__name__)

PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
MEDIA_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}
SUBTITLES = ("srt", "vtt")
# The page loads nothing from elsewhere, and this header makes the browser hold it to that.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; media-src 'self' blob:; connect-src 'self' blob:; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


class _BodyTooLarge(Exception):
    pass


def _capped(receive: Callable[[], Awaitable[dict]], limit: int) -> Callable[[], Awaitable[dict]]:
    """``receive`` that raises _BodyTooLarge once the body passes ``limit`` bytes (chunked bodies too)."""
    seen = 0

    async def wrapped() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
        return message

    return wrapped


def _too_large(limit: int, size: int | None = None) -> TooLarge:
    what = f"request body of {size} bytes" if size is not None else "request body too large"
    return TooLarge(f"{what}; this server takes at most {limit} bytes ({limit / 2**20:.1f} MiB) per request")


async def receive_upload(request: Request, path: Path, limit: int) -> tuple[str, int]:
    """Write the request's audio to ``path``; its label (the client's file name, no folders) and size."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    capped = Request(request.scope, _capped(request.receive, limit))
    size = 0
    try:
        with open(path, "wb") as out:
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                form = await capped.form(max_files=1, max_fields=16)
                try:
                    upload = form.get("file")
                    if not isinstance(upload, UploadFile):
                        raise RequestError("multipart upload without a 'file' part holding the audio "
                                           "(curl: -F file=@audio.wav)")
                    label = upload_label(upload.filename)
                    await asyncio.to_thread(shutil.copyfileobj, upload.file, out)
                    size = out.tell()
                finally:
                    await form.close()
            else:
                label = upload_label(request.query_params.get("name"))
                async for chunk in capped.stream():
                    size += len(chunk)
                    out.write(chunk)
    except _BodyTooLarge:
        raise _too_large(limit) from None
    except HTTPException as exc:  # a malformed multipart body
        raise RequestError(f"malformed upload: {exc.detail}") from None
    except ClientDisconnect:  # nobody to answer; the temporary file goes as always
        raise RequestError("the client went away before sending all of its audio") from None
    if size == 0:
        raise RequestError(f"{label}: the request holds no audio")
    return label, size


def _error(status: int, message: str) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


class InFlightCap:
    """ASGI wrapper: past ``cap`` HTTP requests under way, answer 503 (JSON, Retry-After) without decoding.

    uvicorn's own ``limit_concurrency`` answers a plain-text 503, which clients reading our JSON errors cannot
    parse, so this cap sits in front of it and uvicorn's stays a last resort further out. The refused request's
    body (up to ``drain_bytes``) is read and dropped first: answered mid-upload, the connection closed under a
    client still sending, which then saw a broken pipe instead of the 503 (Python's urllib does)."""

    def __init__(self, app: Callable, cap: int, drain_bytes: int = 0):
        self.app, self.cap, self.drain_bytes, self.in_flight = app, cap, drain_bytes, 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.cap:
            await _drain(receive, self.drain_bytes)
            await _error(503, f"server busy: {self.cap} requests under way; try again shortly")(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _drain(receive: Callable[[], Awaitable[dict]], limit: int) -> None:
    """Read and drop a request body until it ends, the client goes, or ``limit`` bytes have passed."""
    seen = 0
    while seen < limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def create_app(service: TranscriptionService) -> FastAPI:
    app = FastAPI(title="asr serve", docs_url=None, redoc_url=None, openapi_url="/v1/openapi.json")
    app.state.service = service
    page = resources.files("asr.serve") / "static"

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    for route, (name, media_type) in PAGE_FILES.items():
        body = (page / name).read_bytes()  # read once: the page is a fixed set of files in the package

        async def serve_file(body: bytes = body, media_type: str = media_type) -> Response:
            return Response(body, media_type=media_type, headers=PAGE_HEADERS)

        app.add_api_route(route, serve_file, methods=["GET"], include_in_schema=False)

    @app.get("/v1/health")
    async def health() -> dict:
        return service.health()

    @app.get("/v1/model")
    async def model() -> dict:
        return service.model_info()

    @app.post("/v1/transcribe")
    async def transcribe(request: Request) -> Response:
        """Audio in (multipart ``file`` or raw body); ``format`` json (default), txt, srt, vtt or tsv out.

        ``include=srt,vtt`` adds ``subtitles`` to the JSON (what the page offers for download)."""
        asked = request.query_params.get("format", "json")
        try:
            fmt = format_name(asked)
        except ValueError:
            raise RequestError(f"unknown transcript format {short(asked)}; known: {', '.join(MEDIA_TYPES)}") from None
        include = [x for x in request.query_params.get("include", "").split(",") if x]
        if any(x not in SUBTITLES for x in include):
            raise RequestError(f"include takes {', '.join(SUBTITLES)}, got {short(','.join(include))}")
        try:
            service.check_admission()  # a full queue refuses before any audio is stored or decoded
        except Busy:
            # The body is read and dropped first, as InFlightCap does: closed mid-upload, the connection left a
            # client still sending with a broken pipe instead of the 503 (seen under load in the 30-request test).
            await _drain(request.receive, service.limits.max_request_bytes)
            raise
        with temporary_upload() as path:
            label, _ = await receive_upload(request, path, service.limits.max_request_bytes)
            hyp = await service.transcribe(path, label)
        if fmt != "json":
            return Response(render(hyp, fmt), media_type=MEDIA_TYPES[fmt])
        if not include:  # byte for byte the line `asr transcribe --format json` prints
            return Response(render(hyp, "json", source=label), media_type=MEDIA_TYPES["json"])
        entry = json_entry(hyp, label)
        entry["subtitles"] = {name: render(hyp, name) for name in include}
        return Response(json.dumps(entry, ensure_ascii=False), media_type=MEDIA_TYPES["json"])

    return app
