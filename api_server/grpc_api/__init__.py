"""The v2beta1 gRPC API: protos of our own that are wire-compatible with KFP's, generated
code, and servicers that translate between messages and the service layer.

Kept free of imports so that ``python -m api_server.grpc_api.codegen`` runs even when the
generated code is missing or stale; the server is ``api_server.grpc_api.server``.
"""
