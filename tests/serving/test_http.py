"""The transport limits of ``serve`` (:mod:`mlrail.serving.http`) on a real uvicorn server on
127.0.0.1, attacked with raw sockets: 431 for oversized headers, 408 for slow headers and bodies,
the connection cap, and 503 + Retry-After for request bodies beyond the byte budget. Health must
keep answering during each attack: checked by its answering at all, within a generous socket
timeout, never by timing it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mlrail.serving.limits import Limits

from .helpers import Running, running_server

GENEROUS = 30.0  # seconds a socket waits for an answer: a hang fails, a slow machine does not


def connect(server: Running) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=GENEROUS)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or GENEROUS seconds pass)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def live(server: Running) -> int:
    with httpx.Client(timeout=GENEROUS) as http:
        return http.get(f"{server.url}/v2/health/live").status_code


def infer_request(body: bytes, *, length: int | None = None, expect: bool = False) -> bytes:
    n = len(body) if length is None else length
    return (
        b"POST /v2/models/regressor/infer HTTP/1.1\r\nHost: t\r\n"
        + (b"Expect: 100-continue\r\n" if expect else b"")
        + b"Content-Type: application/json\r\nContent-Length: "
        + str(n).encode()
        + b"\r\n\r\n"
        + body
    )


def reading_body(server: Running, length: int) -> socket.socket:
    """A connection whose request the server has taken in and whose body it is now reading.

    ``Expect: 100-continue`` makes the server say so: uvicorn answers ``100 Continue`` when the
    app first asks for the body, so the test knows, without waiting on a clock, that the
    request's headers were handled (its bytes reserved, the connection counted busy).
    """
    sock = connect(server)
    sock.sendall(infer_request(b"", length=length, expect=True))
    assert read_answer_once(sock).startswith(b"HTTP/1.1 100 ")
    return sock


def read_answer_once(sock: socket.socket) -> bytes:
    """One response's status line and headers, on a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)  # byte by byte: nothing after the headers is taken
        if not chunk:
            break
        data += chunk
    return data


REGRESSOR_BODY = b'{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[3.0]}]}'


@contextmanager
def background(target: object) -> Iterator[dict[str, object]]:
    """Run ``target()`` in a thread; its return value or exception lands in the dict."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = target()  # type: ignore[operator]
        except Exception as e:  # reported by the test, not lost in the thread
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield result
    thread.join(GENEROUS * 4)
    assert not thread.is_alive()


# -- headers --------------------------------------------------------------------------------------


def test_oversized_headers_get_431_and_health_answers_meanwhile(repo: Path) -> None:
    with running_server(repo, max_header_bytes=8192) as server:

        def attack() -> int:
            sock = connect(server)
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Big: ")
            try:
                for _ in range(500):  # 16 MB if the server kept reading it
                    sock.sendall(b"a" * 32768)
            except OSError:
                pass  # the server stopped listening to it, as it should
            answer = read_answer(sock)
            sock.close()
            return status_of(answer)

        with background(attack) as attacked:
            statuses = [live(server) for _ in range(20)]
        assert attacked.get("value") == 431, attacked
        assert statuses == [200] * 20
        # A long request line counts too.
        sock = connect(server)
        sock.sendall(b"GET /v2/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_of(read_answer(sock)) == 431
        sock.close()


def test_worker_processes_take_the_limits_too(repo: Path) -> None:
    with running_server(repo, workers=2, max_header_bytes=4096) as server:
        for _ in range(4):  # a few connections, so both workers are likely to take one
            sock = connect(server)
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 6000)
            assert status_of(read_answer(sock)) == 431  # the default (64 KiB) would wait for more
            sock.close()
        assert live(server) == 200


def test_headers_just_under_the_limit_are_answered(repo: Path) -> None:
    with running_server(repo, max_header_bytes=8192) as server:
        sock = connect(server)
        head = b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: "
        padding = b"p" * (8192 - len(head) - 4)
        sock.sendall(head + padding + b"\r\n\r\n")  # exactly 8192 bytes
        assert status_of(read_answer(sock)) == 200
        sock.close()


def test_a_431_reaches_a_client_that_sends_its_headers_in_small_pieces(repo: Path) -> None:
    with running_server(repo, max_header_bytes=4096) as server:
        sock = connect(server)
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n")
        for i in range(100):  # 100 headers of 100 bytes, one send each
            sock.sendall(b"X-H%03d: " % i + b"v" * 90 + b"\r\n")
        sock.sendall(b"\r\n")
        assert status_of(read_answer(sock)) == 431
        sock.close()


# -- slow clients ---------------------------------------------------------------------------------


def test_slow_headers_and_bodies_get_408_and_health_answers_meanwhile(repo: Path) -> None:
    with running_server(repo, header_timeout=1.0, body_timeout=1.0) as server:
        half_head = [connect(server) for _ in range(50)]
        for sock in half_head:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost")
        half_body = [connect(server) for _ in range(50)]
        for sock in half_body:
            sock.sendall(infer_request(b'{"inputs"', length=500))
        silent = connect(server)

        assert live(server) == 200  # while all of them are held

        assert {status_of(read_answer(s)) for s in half_head} == {408}
        answers = [read_answer(s) for s in half_body]
        assert {status_of(a) for a in answers} == {408}
        assert b"body not received in time" in answers[0]
        assert read_answer(silent) == b""  # a connection that never sent a byte: just closed
        for sock in [*half_head, *half_body, silent]:
            sock.close()
        assert live(server) == 200


def test_a_kept_alive_connection_still_answers_its_next_request(repo: Path) -> None:
    with (
        running_server(repo, header_timeout=1.0, body_timeout=1.0) as server,
        httpx.Client(base_url=server.url, timeout=GENEROUS) as http,
    ):
        first = http.post("/v2/models/regressor/infer", content=REGRESSOR_BODY)
        second = http.post("/v2/models/regressor/infer", content=REGRESSOR_BODY)

        assert first.status_code == second.status_code == 200
        assert second.json()["outputs"][0]["data"] == [7.0]


# -- connections ----------------------------------------------------------------------------------


def test_idle_sockets_at_the_cap_make_room_for_health_checks(repo: Path) -> None:
    with running_server(repo, max_connections=20, header_timeout=60.0) as server:
        idle = [connect(server) for _ in range(60)]
        # Each new connection beyond 20 closed the one that had waited longest for a request.
        statuses = [live(server) for _ in range(10)]

        assert statuses == [200] * 10
        closed = sum(read_answer(s) == b"" for s in idle[:30])
        assert closed == 30
        for sock in idle:
            sock.close()


def test_a_new_connection_gets_503_when_every_connection_is_busy(repo: Path) -> None:
    with running_server(repo, max_connections=10, body_timeout=60.0) as server:
        busy = [reading_body(server, 50) for _ in range(10)]  # not closed to make room
        refused = connect(server)
        refused.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        answer = read_answer(refused)

        refused.close()

        assert status_of(answer) == 503 and b"retry-after: 1" in answer.lower()
        for sock in busy:
            sock.close()
        assert live(server) == 200  # the busy ones gone, there is room again


# -- bytes in flight -------------------------------------------------------------------------------


def test_bodies_beyond_the_budget_get_503_with_retry_after(repo: Path) -> None:
    with running_server(repo, max_body_bytes=10_000, max_bytes_in_flight=10_000) as server:
        holder = reading_body(server, 8000)  # holds 8,000 of the 10,000 bytes
        padded = REGRESSOR_BODY + b" " * (8000 - len(REGRESSOR_BODY))
        assert live(server) == 200  # no body: never refused

        with httpx.Client(base_url=server.url, timeout=GENEROUS) as http:
            refused = http.post("/v2/models/regressor/infer", content=REGRESSOR_BODY + b" " * 3000)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "retry later" in refused.json()["error"]
            # A small one still fits, on the same kept-alive connection.
            small = http.post("/v2/models/regressor/infer", content=REGRESSOR_BODY)
            assert small.status_code == 200

            holder.sendall(padded)  # the holder finishes and is answered...
            assert status_of(read_answer_once(holder)) == 200
            # ...which gives its bytes back.
            retried = http.post("/v2/models/regressor/infer", content=REGRESSOR_BODY + b" " * 3000)
            assert retried.status_code == 200
        holder.close()


def test_a_chunked_body_is_counted_while_it_is_read(repo: Path) -> None:
    with running_server(repo, max_body_bytes=10_000, max_bytes_in_flight=10_000) as server:
        holder = reading_body(server, 8000)
        sock = connect(server)
        sock.sendall(
            b"POST /v2/models/regressor/infer HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(6):  # 6 x 1000 bytes: over the 2,000 left after the holder's 8,000
            sock.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
        answer = read_answer(sock)

        assert status_of(answer) == 503 and b"retry-after: 1" in answer.lower()
        assert live(server) == 200
        holder.close()
        sock.close()


def test_a_declared_body_over_the_body_limit_is_still_413_not_503(repo: Path) -> None:
    options = {"max_body_bytes": 10_000, "max_bytes_in_flight": 10_000, "header_timeout": 1.0}
    with running_server(repo, **options) as server:
        sock = connect(server)
        sock.sendall(infer_request(b"", length=50_000))
        assert status_of(read_answer_once(sock)) == 413
        sock.sendall(b" " * 50_000)  # the body, answered already: read and dropped
        # Then the connection waits for a next request like any other, and is closed when none
        # comes (a hang here would be a connection held forever).
        assert b"larger than the limit" in read_answer(sock)
        sock.close()


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_bytes_in_flight": 1000, "max_body_bytes": 2000}, "at least max_body_bytes"),
        ({"max_header_bytes": 100}, "at least 1024"),
        ({"max_connections": 0}, "positive integer"),
        ({"header_timeout": 0}, "positive number of seconds"),
        ({"body_timeout": float("nan")}, "positive number of seconds"),
    ],
)
def test_limits_out_of_range_are_refused(values: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Limits(**values)  # type: ignore[arg-type]


def test_limits_travel_to_worker_processes_through_the_environment() -> None:
    limits = Limits(max_header_bytes=4096, header_timeout=2.5, max_connections=7)

    assert Limits.from_environment(limits.to_environment()) == limits
    assert Limits.from_environment({}) == Limits()
