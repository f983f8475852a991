"""Serve a local model repository over the Open Inference Protocol v2 (KServe v2 REST).

- ``repository``: scan ``<repo>/<model>/<version>/model.onnx``, load ONNX Runtime sessions,
  pick up new versions without a restart.
- ``app``: the bare ASGI app (``create_app``).
- ``server``: ``serve()``, uvicorn on 127.0.0.1 by default.

Nothing is imported here, so importing one module does not pull in the others.
"""
