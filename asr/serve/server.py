"""Run the app under uvicorn on a socket bound here, so ``--port 0`` (any free port) can print the real one."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

import torch

from asr.errors import ConfigError
from asr.serve.service import TranscriptionService


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6); ConfigError with one line when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(service: TranscriptionService, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM finish the requests under way, then stop)."""
    import uvicorn

    from asr.serve.app import InFlightCap, create_app

    # cores / slots torch threads per decode: K slots on K cores run side by side instead of fighting for all.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // service.limits.slots))
    sock = bind(host, port)
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    if not is_loopback(host):
        print(f"asr serve: warning: listening on {host}: anyone who can reach this machine can use the server "
              "(there is no authentication)", file=sys.stderr)
    limits = service.limits
    # Caps in front of the queue, so memory stays bounded however many clients connect: requests past
    # slots + waiting + 16 (room for health and page requests) get our JSON 503; connections past twice
    # that get uvicorn's plain one.
    cap = limits.slots + limits.max_waiting + 16
    config = uvicorn.Config(InFlightCap(create_app(service), cap, limits.max_request_bytes), log_level="info",
                            timeout_keep_alive=5, limit_concurrency=2 * cap)
    print(f"serving {service.model_path.name} on http://{shown}:{bound[1]}/ ({limits.slots} decodes at once, "
          f"{limits.max_waiting} waiting at most, {limits.max_request_bytes / 2**20:.1f} MiB and "
          f"{limits.max_audio_seconds:g} s of audio per request)", flush=True)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        service.close()
