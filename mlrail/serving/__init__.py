"""Serve a local model repository over the Open Inference Protocol v2 (KServe v2 REST).

- ``repository``: scan ``<repo>/<model>/<version>/model.onnx``, load ONNX Runtime sessions,
  pick up new versions without a restart.
- ``app``: the bare ASGI app (``create_app``): routing, readiness, metadata.
- ``http``, ``limits``: the transport uvicorn runs it with: header, body, connection and
  bytes-in-flight limits against careless and hostile clients.
- ``payload_log``: sampled request and response bytes, written off the request path.
- ``server``: ``serve()``, uvicorn on 127.0.0.1 by default.

The V2 wire format (requests decoded, responses encoded, any body turned back into its V2 JSON
object) is :mod:`mlrail.artifacts.v2`'s: the components that write and send V2 requests share it.

Nothing is imported here, so importing one module does not pull in the others.
"""
