"""The Open Inference Protocol (KServe V2) over gRPC, beside the REST server.

``inference.proto`` declares ``inference.GRPCInferenceService`` with the wire names tritonclient
and KServe use; ``inference_pb2*.py`` are generated from it by grpcio-tools and committed
(``tests/serving/test_grpc.py`` checks they are current). Regenerate them with::

    python -m mlrail.serving.grpc.generate

Modules: :mod:`.codec` (gRPC messages to and from the V2 codec REST uses), :mod:`.servicer` (the
calls, over :class:`mlrail.serving.app.InferenceApp`), :mod:`.startup` (the server beside
uvicorn). Nothing here is imported unless the gRPC port is on (``mlrail serve --grpc-port``).
"""
