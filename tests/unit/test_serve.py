"""asr serve: a real server in a subprocess on a free localhost port, answering real HTTP requests.

The server's JSON must be byte for byte what ``asr transcribe --format json`` prints, its errors the CLI's
lines, its limits 413s, its queue bounded, and no upload may outlive its request.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy as np
import pytest
import soundfile as sf
from fastapi.responses import JSONResponse
from serve_support import demo_wavs, get_json, request, running_server, talkative_model, upload

from asr.cli import main
from asr.serve import ServeLimits, TranscriptionService
from asr.serve.app import InFlightCap, create_app
from asr.serve.service import Busy


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("serve")
    return SimpleNamespace(root=root, model=talkative_model(root / "model.pt"), wavs=demo_wavs(root / "demo"))


@pytest.fixture(scope="module")
def server(files):
    with running_server(files.model, files.root / "server", "--slots", "2", "--max-waiting", "32") as srv:
        yield srv


@pytest.fixture(scope="module")
def small_server(files):
    with running_server(files.model, files.root / "small", "--max-upload-mb", "0.25",
                        "--max-audio-seconds", "2.5") as srv:
        yield srv


def cli(capsys, monkeypatch, folder: Path, *args) -> tuple[int, str, str]:
    """``asr ARGS`` run from ``folder``, so files are named as the server names uploads (no folders)."""
    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_upload_returns_the_json_asr_transcribe_prints(files, server, capsys, monkeypatch):
    for wav in files.wavs:
        code, expected, _ = cli(capsys, monkeypatch, wav.parent, "transcribe", files.model, wav.name,
                                "--format", "json")
        assert code == 0
        status, headers, body = upload(server.url, wav.name, wav.read_bytes())
        assert status == 200 and headers["content-type"] == "application/json"
        assert body.decode() == expected
        # the raw body (curl --data-binary) gives the same, named by ?name=
        status, _, raw = request(f"{server.url}v1/transcribe?name={wav.name}", wav.read_bytes())
        assert status == 200 and raw == body
    entry = json.loads(body)
    assert len(entry["words"]) >= 2 and entry["file"] == files.wavs[-1].name


@pytest.mark.parametrize("fmt", ["srt", "vtt", "txt", "tsv"])
def test_format_parameter_gives_the_cli_formats(files, server, capsys, monkeypatch, fmt):
    wav = files.wavs[0]
    code, expected, _ = cli(capsys, monkeypatch, wav.parent, "transcribe", files.model, wav.name, "--format", fmt)
    assert code == 0
    status, headers, body = upload(server.url, wav.name, wav.read_bytes(), f"?format={fmt}")
    assert status == 200 and body.decode() == expected
    assert headers["content-type"].startswith({"srt": "application/x-subrip", "vtt": "text/vtt", "txt": "text/plain",
                                               "tsv": "text/tab-separated-values"}[fmt])


def test_include_adds_the_subtitles_the_page_downloads(files, server):
    wav = files.wavs[2]
    status, _, body = upload(server.url, wav.name, wav.read_bytes(), "?include=srt,vtt")
    entry = json.loads(body)
    for fmt in ("srt", "vtt"):
        assert entry["subtitles"][fmt] == upload(server.url, wav.name, wav.read_bytes(), f"?format={fmt}")[2].decode()
    assert entry["subtitles"]["vtt"].startswith("WEBVTT") and " --> " in entry["subtitles"]["srt"]


def test_bad_requests_get_400_with_the_cli_message(files, server, capsys, monkeypatch, tmp_path):
    good = files.wavs[0].read_bytes()
    cases = {"noise.wav": b"this is not audio at all\n" * 40, "cut.wav": good[: len(good) // 2],
             "empty.flac": b"fLaC"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        code, _, err = cli(capsys, monkeypatch, tmp_path, "transcribe", files.model, name)
        assert code == 2 and err.startswith(f"asr: error: {name}: ")
        status, headers, body = upload(server.url, name, content)
        assert status == 400 and headers["content-type"] == "application/json"
        assert json.loads(body) == {"error": err.strip().removeprefix("asr: error: "), "status": 400}
    assert json.loads(request(server.url + "v1/transcribe", b"")[2])["error"] == "<upload>: the request holds no audio"
    status, _, body = request(server.url + "v1/transcribe?format=docx", good)
    assert status == 400
    assert json.loads(body)["error"] == "unknown transcript format 'docx'; known: json, txt, srt, vtt, tsv"
    status, _, body = request(server.url + "v1/transcribe?format=" + "x" * 5000, good)
    assert status == 400 and len(json.loads(body)["error"]) < 150
    body, headers = b"--x\r\nContent-Disposition: form-data; name=\"audio\"\r\n\r\nabc\r\n--x--\r\n", {
        "Content-Type": "multipart/form-data; boundary=x"}
    status, _, answer = request(server.url + "v1/transcribe", body, headers)
    assert status == 400 and "without a 'file' part" in json.loads(answer)["error"]


def test_a_path_from_the_client_is_never_opened(files, server):
    """The file name of an upload is a label: naming a real audio file on the server reads nothing from it."""
    real = files.wavs[0]
    status, _, body = upload(server.url, str(real), b"RIFF....not a wave file")
    error = json.loads(body)["error"]
    assert status == 400 and error.startswith(f"{real.name}: ") and str(real.parent) not in error
    status, _, body = request(f"{server.url}v1/transcribe?name=../../{real}", real.read_bytes())
    assert status == 200 and json.loads(body)["file"] == real.name


def _raw_http(url: str, head: str, body_chunks: list[bytes] = ()) -> tuple[int, dict]:
    """Send a hand-made request (to send headers that promise more than is sent); the status and JSON."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed before taking the rest: that is the point
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, json.loads(answer.split(b"\r\n\r\n", 1)[1])


def _content_length(answer: bytes) -> int:
    match = re.search(rb"content-length: (\d+)", answer, re.I)
    return int(match.group(1)) if match else 1 << 30


def test_oversize_requests_get_413_with_a_clear_json_error(files, small_server):
    url = small_server.url
    limit = int(0.25 * 2**20)
    # a declared size past the limit is refused before any of the body is sent
    status, answer = _raw_http(url, f"POST /v1/transcribe HTTP/1.1\r\nHost: x\r\nContent-Length: {50 * 2**20}\r\n"
                                    "Content-Type: audio/wav\r\n\r\n")
    assert status == 413 and answer["error"] == (f"request body of {50 * 2**20} bytes; this server takes at most "
                                                 f"{limit} bytes (0.2 MiB) per request")
    # a chunked body (no declared size) is counted while it arrives
    chunks = [b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)] * 6 + [b"0\r\n\r\n"]
    status, answer = _raw_http(url, "POST /v1/transcribe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                               chunks)
    assert status == 413 and answer["error"].startswith("request body too large; this server takes at most")
    # a multipart upload over the limit
    status, _, body = upload(url, "big.wav", b"\0" * (limit + 1))
    assert status == 413 and "at most 262144 bytes" in json.loads(body)["error"]
    # audio over the duration limit, in a small file (8 kHz, 3 s: 48 kB)
    long_wav = files.root / "three_seconds.wav"
    sf.write(long_wav, np.zeros(24000, dtype=np.float32), 8000, subtype="PCM_16")
    status, _, body = upload(url, long_wav.name, long_wav.read_bytes())
    assert status == 413
    assert json.loads(body)["error"] == "three_seconds.wav: 3.0 s of audio; this server takes at most 2.5 s per request"
    # the server is still there and answers within the limits
    assert upload(url, files.wavs[1].name, files.wavs[1].read_bytes())[0] == 200
    assert list(small_server.tmpdir.iterdir()) == []


def test_twenty_concurrent_requests_are_all_answered_in_bounded_memory(files, server):
    expected = {w.name: upload(server.url, w.name, w.read_bytes())[2] for w in files.wavs}
    served_before = get_json(server.url + "v1/health")[1]["served"]

    def one(i: int) -> tuple[str, int, bytes]:
        wav = files.wavs[i % len(files.wavs)]
        status, _, body = upload(server.url, wav.name, wav.read_bytes())
        return wav.name, status, body

    rss = []
    for _ in range(2):
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(one, range(20)))
        # all answered, none lost, none mixed up with another request's audio
        assert [status for _, status, _ in answers] == [200] * 20
        assert all(body == expected[name] for name, _, body in answers)
        rss.append(server.rss_kib())
    health = get_json(server.url + "v1/health")[1]
    assert health["served"] == served_before + 40 and health["waiting"] == 0 and health["decoding"] == 0
    # a second round of 20 does not grow the process: nothing is kept per request
    assert rss[1] - rss[0] < 40 * 1024, rss
    assert list(server.tmpdir.iterdir()) == []  # every upload's temporary file is gone


def test_twenty_large_uploads_at_once_go_to_disk_not_memory(server):
    """20 concurrent 6 MB uploads (120 MB in all, refused as not audio once received) leave the peak
    memory of the server nearly where it was: bodies stream to temporary files, they are never buffered."""
    peak = server.rss_kib("VmHWM")
    blob = bytes(range(256)) * (6 * 2**20 // 256)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: upload(server.url, f"big{i}.wav", blob), range(20)))
    assert [status for status, _, _ in answers] == [400] * 20
    assert all(json.loads(body)["error"].startswith(f"big{i}.wav: ") for i, (_, _, body) in enumerate(answers))
    assert server.rss_kib("VmHWM") - peak < 50 * 1024
    assert list(server.tmpdir.iterdir()) == []


def test_past_the_slots_and_the_queue_requests_get_503_and_none_is_lost(files):
    """One slot, no waiting room: of 30 requests sent at once, those that find the slot taken get 503 at once.

    30 is past the server's in-flight cap (1 + 0 + 16), so some 503s come from the cap, the rest from the
    queue; every one must be our JSON error with Retry-After (uvicorn's own cap answers plain text)."""
    audio = np.concatenate([sf.read(w, dtype="float32")[0] for w in files.wavs] * 3)  # about 20 s: a slow decode
    long_wav = files.root / "twenty_seconds.wav"
    sf.write(long_wav, audio, 16000)
    with running_server(files.model, files.root / "one_slot", "--slots", "1", "--max-waiting", "0") as srv:
        with ThreadPoolExecutor(30) as pool:
            answers = list(pool.map(lambda i: upload(srv.url, long_wav.name, long_wav.read_bytes()), range(30)))
        statuses = [status for status, _, _ in answers]
        assert statuses.count(200) >= 1 and statuses.count(503) >= 1 and statuses.count(200) + statuses.count(503) == 30
        refusals = [(headers, json.loads(body)) for status, headers, body in answers if status == 503]
        assert all(headers["retry-after"] == "1" and busy["status"] == 503 for headers, busy in refusals)
        assert all(busy["error"].startswith("server busy: ") for _, busy in refusals)
        assert any(busy["error"].startswith("server busy: 1 of 1 decode slots in use and 0 of 0 queue places taken")
                   for _, busy in refusals)
        assert get_json(srv.url + "v1/health")[1]["served"] == statuses.count(200)
        assert list(srv.tmpdir.iterdir()) == []


def test_a_full_queue_refuses_with_busy_while_slots_and_waiting_are_taken(files):
    service = TranscriptionService(files.model, ServeLimits(slots=1, max_waiting=1))
    release = threading.Event()
    decode = service._decode
    service._decode = lambda *args: (release.wait(30), decode(*args))[1]
    wav = files.wavs[0]

    async def scenario():
        first = asyncio.create_task(service.transcribe(wav, wav.name))
        second = asyncio.create_task(service.transcribe(wav, wav.name))
        while service.waiting < 1 or service.decoding < 1:
            await asyncio.sleep(0.01)
        with pytest.raises(Busy, match="1 of 1 decode slots in use and 1 of 1 queue places taken"):
            await service.transcribe(wav, wav.name)
        release.set()
        return await first, await second

    first, second = asyncio.run(scenario())
    assert first.text == second.text and first.words
    assert (service.decoding, service.waiting, service.served) == (0, 0, 2)
    service.close()


def test_health_and_model_describe_the_server_without_paths(files, server):
    status, health = get_json(server.url + "v1/health")
    assert status == 200 and health["status"] == "ok" and health["slots"] == 2
    status, _, body = request(server.url + "v1/model")
    info = json.loads(body)
    assert status == 200 and info["model"] == "model.pt" and info["units"] == "char"
    assert info["sample_rate"] == 16000 and info["symbols"] == ["<blank>", "|", "a", "b", "o"]
    assert info["decoder"]["kind"] == "greedy" and info["decoder"]["unk_score"] is None  # -inf is not JSON
    assert info["training"] == {"epoch": 0} and info["architecture"]["hidden_size"] == 8
    assert info["limits"]["slots"] == 2 and info["limits"]["max_audio_seconds"] == 300
    assert str(files.root) not in body.decode()


def test_the_page_is_three_files_from_the_package_and_nothing_from_elsewhere(server):
    status, headers, html = request(server.url)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    assert re.findall(r'(?:src|href)="([^"]+)"', html.decode()) == ["/static/style.css", "/static/app.js"]
    for name in ("app.js", "style.css"):
        status, _, text = request(f"{server.url}static/{name}")
        assert status == 200 and not re.search(rb"https?://|@import|url\(", text)
    for path in ("static/../serve/app.py", "static/service.py", "static/%2e%2e/app.py", "docs"):
        status, _, body = request(server.url + path)
        assert status == 404 and json.loads(body)["error"] == "Not Found"


def test_binds_to_localhost_and_a_taken_port_is_one_line(files, server):
    assert server.url.startswith("http://127.0.0.1:")
    port = urlparse(server.url).port
    result = subprocess.run([sys.executable, "-m", "asr.cli", "serve", str(files.model), "--port", str(port)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"asr: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_missing_model_is_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "none.pt")]) == 2
    assert capsys.readouterr().err == f"asr: error: {tmp_path / 'none.pt'}: model file not found\n"



def test_decoding_options_apply_to_every_request_n_best_included(files, capsys, monkeypatch):
    wav = files.wavs[2]
    options = ["--decoder", "beam", "--beam-size", "8", "--nbest", "3"]
    code, expected, _ = cli(capsys, monkeypatch, wav.parent, "transcribe", files.model, wav.name, "--format", "json",
                            *options)
    assert code == 0 and len(json.loads(expected)["nbest"]) == 3
    with running_server(files.model, files.root / "beam", *options) as srv:
        status, _, body = upload(srv.url, wav.name, wav.read_bytes())
        assert status == 200 and body.decode() == expected
        decoder = get_json(srv.url + "v1/model")[1]["decoder"]
        assert (decoder["kind"], decoder["beam_size"], decoder["nbest"]) == ("beam", 8, 3)


def test_the_in_flight_cap_answers_json_503_without_calling_the_app():
    """Past the cap the request never reaches the app and the client gets our JSON error, not plain text."""
    called = []

    async def app(scope, receive, send):
        called.append(scope["path"])
        await JSONResponse({"ok": True})(scope, receive, send)

    async def exchange(capped, path):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await capped({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
        return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]

    status, headers, body = asyncio.run(exchange(InFlightCap(app, cap=0), "/v1/health"))
    assert status == 503 and headers[b"retry-after"] == b"1" and called == []
    assert json.loads(body) == {"error": "server busy: 0 requests under way; try again shortly", "status": 503}
    capped = InFlightCap(app, cap=1)
    assert asyncio.run(exchange(capped, "/v1/model"))[0] == 200 and called == ["/v1/model"]
    assert capped.in_flight == 0  # released after the answer, so the next request is let in too
    assert asyncio.run(exchange(capped, "/v1/model"))[0] == 200


def test_a_request_refused_at_the_cap_is_read_to_its_end_before_the_503():
    """Answered mid-upload, the connection closed under a client still sending (a broken pipe, not a 503)."""
    events: list[str] = []
    chunks = [{"type": "http.request", "body": b"x" * 1000, "more_body": i < 4} for i in range(5)]

    async def receive():
        events.append("read")
        return chunks.pop(0)

    async def send(message):
        events.append(message["type"])

    async def never_called(scope, receive, send):
        raise AssertionError("a refused request reached the app")

    cap = InFlightCap(never_called, cap=0, drain_bytes=10_000)
    asyncio.run(cap({"type": "http", "method": "POST", "path": "/v1/transcribe", "headers": []}, receive, send))
    assert events[:5] == ["read"] * 5 and events[5:] == ["http.response.start", "http.response.body"]
    assert chunks == []

    # Past drain_bytes the answer comes without the rest: a body over the limit is refused, never read whole.
    chunks[:] = [{"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(50)]
    events.clear()
    small = InFlightCap(never_called, cap=0, drain_bytes=3000)
    asyncio.run(small({"type": "http", "method": "POST", "path": "/v1/transcribe", "headers": []}, receive, send))
    assert events.count("read") == 3 and len(chunks) == 47


def test_a_request_refused_by_a_full_queue_is_read_to_its_end_before_the_503(files, monkeypatch):
    """The queue's refusal comes from inside the app: it too must read the upload before answering, or a client
    still sending sees a broken pipe (the 30-request test above failed so once on a loaded machine)."""
    service = TranscriptionService(files.model, ServeLimits(slots=1, max_waiting=0))

    def full() -> None:
        raise Busy("server busy: 1 of 1 decode slots in use and 0 of 0 queue places taken; try again shortly")

    monkeypatch.setattr(service, "check_admission", full)
    events: list[str] = []
    chunks = [{"type": "http.request", "body": b"x" * 1000, "more_body": i < 4} for i in range(5)]
    sent: list[dict] = []

    async def receive():
        events.append("read")
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        events.append(message["type"])
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/transcribe", "raw_path": b"/v1/transcribe", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"audio/wav"), (b"content-length", b"5000")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(create_app(service)(scope, receive, send))
    assert chunks == [] and events.index("http.response.start") > 4  # every chunk read before the answer
    assert sent[0]["status"] == 503 and dict(sent[0]["headers"])[b"retry-after"] == b"1"
    assert json.loads(sent[1]["body"])["error"].startswith("server busy: 1 of 1 decode slots")
    assert service.served == 0 and service.decoding == 0
    service.close()
