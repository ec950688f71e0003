"""Python code generated from ``api_server/grpc_api/protos`` by ``make protos``; do not edit.

The files here are committed so that running the server needs no code generation; a test
regenerates them and fails when they are stale.
"""
