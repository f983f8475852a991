"""Start and stop the V2 gRPC server beside uvicorn, on the same event loop and app.

The gRPC server (``grpc.aio``) runs in each server process, on uvicorn's event loop, over the
same :class:`~mlrail.serving.app.InferenceApp`: one repository, one set of metrics, one payload
log per process, and no thread hand-off on the request path.

With several workers (``--workers N``) every worker process listens on the gRPC port with
``SO_REUSEPORT`` (gRPC sets it by default on Linux) and the kernel spreads connections over
them, as the REST socket's accept queue does. The alternative, gRPC in one process only, would
put all gRPC traffic on one core and load the models once more. A gRPC client keeps one HTTP/2
connection, so one client's calls stay on one worker; several clients (or channels) spread.

:func:`reserve` binds the port first, in the process that parses the options, so a port in use
or an address not on this machine fails before any model loads, and port 0 resolves to one
port for every worker. The reservation does not listen, so connections only reach the gRPC
servers.

:class:`WithGrpc` wraps the ASGI app: its lifespan starts the gRPC server (if it is not running
yet) and, at shutdown, stops it first (in-flight calls get the same grace as REST's) and then
closes the app, before uvicorn re-raises the signal. Every other request goes straight through.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from mlrail.errors import MlrailError
from mlrail.serving.app import InferenceApp, Receive, Scope, Send
from mlrail.serving.grpc import inference_pb2_grpc as pb_grpc
from mlrail.serving.grpc.servicer import InferenceServicer

__all__ = ["GrpcError", "GrpcSettings", "WithGrpc", "address", "reserve", "start"]

logger = logging.getLogger("mlrail.serving")


class GrpcError(MlrailError, OSError):
    """The gRPC server cannot listen on its address or start."""


@dataclass(frozen=True)
class GrpcSettings:
    """Where and how the gRPC server listens.

    Attributes:
        host: The bind address (as REST's).
        port: The port (already resolved by :func:`reserve` when it was 0).
        max_message_bytes: The largest request message (the REST body limit): larger ones get
            RESOURCE_EXHAUSTED from gRPC before they are decoded.
        max_concurrent_rpcs: Calls in progress at most (REST's connection cap); more get
            RESOURCE_EXHAUSTED at once instead of queueing without bound.
        grace: Seconds in-flight calls get to finish at shutdown.
        reuse_port: Share the port with the other workers (``SO_REUSEPORT``); off for one
            process, so the bind itself refuses a port that is in use.
    """

    host: str
    port: int
    max_message_bytes: int
    max_concurrent_rpcs: int
    grace: float
    reuse_port: bool = False


def address(host: str, port: int) -> str:
    """``host:port`` as gRPC takes it (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def reserve(host: str, port: int) -> socket.socket:
    """Bind (without listening) ``host:port`` with ``SO_REUSEPORT``, for the workers' servers.

    The port is first bound without ``SO_REUSEPORT``: that bind fails if any other socket holds
    the port, so a second ``mlrail serve`` on the same port is refused instead of silently
    sharing its connections (the kernel lets any process of the same user join a port that
    every holder opened with ``SO_REUSEPORT``).

    Raises:
        GrpcError: The address cannot be bound (the port is in use, or not this machine's).
    """
    probe = _bind(host, port, reuse_port=False)
    port = probe.getsockname()[1]
    probe.close()
    return _bind(host, port, reuse_port=True)


def _bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise GrpcError(f"cannot listen for gRPC on {host}:{port}: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        sock.bind(where)
    except OSError as e:
        sock.close()
        raise GrpcError(f"cannot listen for gRPC on {host}:{port}: {e.strerror or e}") from None
    return sock


async def start(app: InferenceApp, settings: GrpcSettings) -> tuple[grpc.aio.Server, int]:
    """Start a gRPC server for ``app`` on the running event loop.

    Returns:
        The server, and the port it listens on (the one gRPC chose when ``port`` is 0).

    Raises:
        GrpcError: gRPC cannot bind the address.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", -1),  # answers are not limited on REST either
            ("grpc.so_reuseport", int(settings.reuse_port)),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    # generated code, untyped
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(app), server)  # type: ignore[no-untyped-call]
    where = address(settings.host, settings.port)
    try:
        port = server.add_insecure_port(where)
    except RuntimeError as e:  # grpc's "Failed to bind to address ..."
        raise GrpcError(
            f"cannot listen for gRPC on {where}: the address is in use or not this machine's ({e})"
        ) from None
    await server.start()
    return server, port


class WithGrpc:
    """The ASGI app with a gRPC server over it, started and stopped by the lifespan.

    Args:
        app: The REST app (its repository, metrics and payload log are shared).
        settings: Where the gRPC server listens.
        on_start: Called with the port once the gRPC server listens (the banner).
    """

    def __init__(
        self,
        app: InferenceApp,
        settings: GrpcSettings,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.on_start = on_start
        self.server: grpc.aio.Server | None = None
        self.port: int | None = None

    def close(self) -> None:
        """Close the app (flush its payload log)."""
        self.app.close()

    async def start(self) -> None:
        """Start the gRPC server, unless it runs already."""
        if self.server is None:
            self.server, self.port = await start(self.app, self.settings)
            if self.on_start is not None:
                self.on_start(self.port)

    async def stop(self) -> None:
        """Stop the gRPC server, letting in-flight calls finish within the grace period."""
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop(self.settings.grace)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except GrpcError as e:
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                # As the app's own lifespan: the payload log is flushed in a thread (a slow sink).
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return
