"""A tiny fault-injecting gRPC server: the HTTP fault proxy's counterpart for gRPC clients (Firestore).

The real client (google-cloud-firestore) talks real gRPC to it when FIRESTORE_EMULATOR_HOST names it.
It serves ANY method (a generic handler, raw bytes in and out) and answers every call with the fault a
test switched on, the faults of tests/servers/fault_proxy.py in gRPC terms:

- `timeout`: holds the call until the client's deadline passes (or the client gives up, or stop());
- `forbidden`: PERMISSION_DENIED (what Firestore answers a caller without IAM rights);
- `server_error`: INTERNAL (HTTP 500's code; the client library treats it as transient and retries it
  until the call's retry deadline; UNAVAILABLE, the other retried code, is what `refused` produces);
- `malformed`: status OK with one response message whose bytes are not a valid protobuf (a field that
  claims more bytes than follow), so the client fails to deserialize it;
- `refused`: the server is stopped and nothing listens on its port; clearing the fault listens again
  on the same port.

It does not forward to the emulator: a test points the client here only for the faulty run.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Iterator

import grpc

from tests.servers.fault_proxy import FaultSwitch

MALFORMED = b"\x0a\x40not a protobuf: field 1 claims 64 bytes"
"""Field 1, length-delimited, length 64, followed by fewer bytes: no protobuf parser accepts it."""

STATUS = {
    "forbidden": (grpc.StatusCode.PERMISSION_DENIED, "Missing or insufficient permissions."),
    "server_error": (grpc.StatusCode.INTERNAL, "An internal error occurred."),
}


@dataclass
class FaultGrpcServer(FaultSwitch):
    fault: str | None = None
    hold_seconds: float = 30.0
    """How long `timeout` holds a call at most (the client's deadline ends it sooner)."""
    calls: int = 0
    faulted: int = 0
    methods: list[str] = field(default_factory=list)
    """The full names of the methods called (e.g. /google.firestore.v1.Firestore/BatchGetDocuments)."""
    _port: int = field(default=0, init=False, repr=False)
    _server: grpc.Server | None = field(default=None, init=False, repr=False)
    _release: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def host(self) -> str:
        """host:port, a value for FIRESTORE_EMULATOR_HOST."""
        assert self._port, "start() the server first"
        return f"127.0.0.1:{self._port}"

    def start(self) -> FaultGrpcServer:
        self._release.clear()
        self._listen(0)
        return self

    def stop(self) -> None:
        self._release.set()  # held calls end now
        self._close()

    # --- serving ---

    def _listen(self, port: int) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="FaultGrpcServer"))
        server.add_generic_rpc_handlers((_AnyMethod(self),))
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        if not bound:
            raise OSError(f"cannot listen on 127.0.0.1:{port}")
        server.start()
        self._server, self._port = server, bound

    def _close(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None

    def _answer(self, method: str, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        with self._lock:
            self.calls += 1
            self.methods.append(method)
            fault = self.fault
            if fault:
                self.faulted += 1
        if fault == "timeout":
            deadline = time.monotonic() + self.hold_seconds
            while context.is_active() and time.monotonic() < deadline and not self._release.wait(0.02):
                pass
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "held past the deadline by the fault server")
        if fault in STATUS:
            code, message = STATUS[fault]
            context.abort(code, message)
        if fault == "malformed":
            yield MALFORMED
            return
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no fault set: the fault server does not serve {method}")


class _AnyMethod(grpc.GenericRpcHandler):
    """Every method as a bidirectional stream of raw bytes: on the wire a unary or server-streaming call
    is the same frames, so one handler shape answers all of them."""

    def __init__(self, server: FaultGrpcServer) -> None:
        self._server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method

        def behaviour(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
            return self._server._answer(method, requests, context)

        # No (de)serializers: requests and responses stay bytes, so `malformed` can send any bytes.
        return grpc.stream_stream_rpc_method_handler(behaviour)
