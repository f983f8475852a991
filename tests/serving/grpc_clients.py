"""Run V2 requests through one real client at its defaults, in a process of its own; print JSON.

``python -m tests.serving.grpc_clients CLIENT URL`` reads ``[{"model", "inputs": {name:
{"datatype", "shape", "data"}}}, ...]`` on stdin and prints, per request, ``{output: {"shape",
"data"}}`` or ``{"error": {"code", "message"}}``.

A process per client: ``tritonclient.grpc`` and ``kserve`` each register the ``inference``
protobuf messages in protobuf's default pool, and protobuf refuses the second ("duplicate
symbol"), so the two cannot be imported into one process (nor into pytest's, where
test_clients.py imports kserve).

Clients: ``triton-grpc`` (``tritonclient.grpc``: raw_input_contents), ``kserve-grpc``
(``kserve.InferenceGRPCClient``, async: raw_input_contents), ``triton-http``
(``tritonclient.http``: binary tensor data) and ``kserve-rest`` (``kserve.InferenceRESTClient``
with V2 chosen: binary tensor data).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def _arrays(inputs: dict[str, Any]) -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for name, item in inputs.items():
        dtype = {"FP32": np.float32, "FP64": np.float64, "BYTES": object}[item["datatype"]]
        out[name] = (item["datatype"], np.array(item["data"], dtype=dtype).reshape(item["shape"]))
    return out


def _result(outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    return {n: {"shape": list(a.shape), "data": a.reshape(-1).tolist()} for n, a in outputs.items()}


def triton(kind: str, url: str, requests: list[dict[str, Any]]) -> list[Any]:
    if kind == "triton-grpc":
        import tritonclient.grpc as client_module
    else:
        import tritonclient.http as client_module  # type: ignore[no-redef]
    client = client_module.InferenceServerClient(url=url)
    answers: list[Any] = []
    for request in requests:
        if request.get("call") == "health":
            meta = client.get_model_metadata(request["model"], as_json=True)
            answers.append(
                {
                    "live": client.is_server_live(),
                    "ready": client.is_server_ready(),
                    "model_ready": client.is_model_ready(request["model"]),
                    "inputs": [
                        [i["name"], i["datatype"], [int(d) for d in i["shape"]]]
                        for i in meta["inputs"]
                    ],
                }
            )
            continue
        inputs = []
        for name, (datatype, array) in _arrays(request["inputs"]).items():
            item = client_module.InferInput(name, list(array.shape), datatype)
            item.set_data_from_numpy(array)  # the default: raw / binary tensor data
            inputs.append(item)
        try:
            result = client.infer(request["model"], inputs)
        except client_module.InferenceServerException as e:
            answers.append({"error": {"code": str(e.status()), "message": e.message()}})
            continue
        names = [o["name"] if isinstance(o, dict) else o.name for o in _outputs(result)]
        answers.append(_result({n: result.as_numpy(n) for n in names}))
    client.close()
    return answers


def _outputs(result: Any) -> list[Any]:
    response = result.get_response()
    return response["outputs"] if isinstance(response, dict) else list(response.outputs)


def kserve(kind: str, url: str, requests: list[dict[str, Any]]) -> list[Any]:
    sys.argv = sys.argv[:1]  # importing kserve parses sys.argv (its model server's options)
    import kserve as k

    async def run() -> list[Any]:
        answers: list[Any] = []
        if kind == "kserve-grpc":
            client: Any = k.InferenceGRPCClient(url=url)
        else:
            client = k.InferenceRESTClient(k.RESTConfig(protocol="v2"))
        async with client:
            for request in requests:
                inputs = []
                for name, (datatype, array) in _arrays(request["inputs"]).items():
                    item = k.InferInput(name, list(array.shape), datatype)
                    item.set_data_from_numpy(array)  # binary_data=True, its default
                    inputs.append(item)
                infer = k.InferRequest(model_name=request["model"], infer_inputs=inputs)
                try:
                    if kind == "kserve-grpc":
                        response = await client.infer(infer)
                    else:
                        response = await client.infer(
                            f"http://{url}", infer, model_name=request["model"]
                        )
                except Exception as e:  # the clients raise their transports' errors
                    answers.append({"error": {"code": type(e).__name__, "message": str(e)}})
                    continue
                answers.append(
                    _result({o.name: np.asarray(o.as_numpy()) for o in response.outputs})
                )
        return answers

    return asyncio.run(run())


if __name__ == "__main__":
    kind, url = sys.argv[1], sys.argv[2]
    requests = json.load(sys.stdin)
    run = triton if kind.startswith("triton") else kserve
    json.dump(run(kind, url, requests), sys.stdout)
