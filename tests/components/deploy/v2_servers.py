"""Real V2 servers for deploy's smoke tests: ``mlrail serve``'s app under uvicorn in a thread.

The ``servers`` fixture (conftest.py) starts two: the penguins model, and the same model with
its last dense kernel negated. Tests import :class:`Servers` from here, not from conftest.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Servers", "good_and_bad", "negate_last_kernel", "serving"]


@dataclass(frozen=True)
class Servers:
    """Base URLs of the V2 servers of the ``servers`` fixture: the good model and the bad one."""

    good: str
    bad: str


@contextmanager
def serving(repository: Path) -> Iterator[str]:
    """``mlrail serve``'s app on ``repository``, on a free port of 127.0.0.1: its base URL."""
    import uvicorn

    from mlrail.serving.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(repository), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"the V2 server on {repository} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@contextmanager
def good_and_bad(onnx_model: Path, scratch: Path) -> Iterator[Servers]:
    """The ``servers`` fixture's two servers: export_onnx's model, and it with a kernel negated.

    Args:
        onnx_model: export_onnx's output folder.
        scratch: An empty folder for the bad model's repository.
    """
    (good_model,) = (onnx_model / "model_repository").iterdir()
    bad_repo = scratch / "model_repository"
    shutil.copytree(good_model, bad_repo / good_model.name)
    model_file = bad_repo / good_model.name / "1" / "model.onnx"
    negate_last_kernel(onnx_model / "model.onnx", model_file)
    with serving(onnx_model / "model_repository") as good, serving(bad_repo) as bad:
        yield Servers(good, bad)


def negate_last_kernel(src: Path, dest: Path) -> None:
    """Write ``src`` with its last dense kernel negated to ``dest``: loads and answers, wrongly."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    kernels = [
        (i, t)
        for i, t in enumerate(model.graph.initializer)
        if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2
    ]
    index, tensor = kernels[-1]
    negated = numpy_helper.from_array(
        -numpy_helper.to_array(tensor).astype(np.float32), tensor.name
    )
    model.graph.initializer[index].CopyFrom(negated)
    onnx.save(model, str(dest))
