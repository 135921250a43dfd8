#!/usr/bin/env python3
"""An OTLP/HTTP trace receiver for the tests: decodes each
ExportTraceServiceRequest with the official protobuf definitions
(PyPI's opentelemetry-proto) and appends every span to OUTFILE as a JSON
line, ids in hex.

Usage: receiver.py OUTFILE  (prints the port it listens on, on 127.0.0.1)
"""
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

OUT = sys.argv[1]
HEX_FIELDS = ("traceId", "spanId", "parentSpanId")


def attrs(kvs):
    out = {}
    for kv in kvs or []:
        v = kv.get("value", {})
        if "arrayValue" in v:
            out[kv["key"]] = [list(x.values())[0] for x in v["arrayValue"].get("values", [])]
        elif v:
            out[kv["key"]] = list(v.values())[0]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            return self.reply(400, b"want application/x-protobuf at /v1/traces", "text/plain")
        req = ExportTraceServiceRequest()
        try:
            req.ParseFromString(body)
        except Exception as e:  # noqa: BLE001 - any decode failure is a 400
            return self.reply(400, str(e).encode(), "text/plain")
        d = MessageToDict(req)
        with open(OUT, "a") as f:
            for rs in d.get("resourceSpans", []):
                resource = attrs(rs.get("resource", {}).get("attributes"))
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        for k in HEX_FIELDS:
                            if k in span:
                                span[k] = base64.b64decode(span[k]).hex()
                        span["attributes"] = attrs(span.get("attributes"))
                        span["resource"] = resource
                        span["scope"] = ss.get("scope", {})
                        span["header"] = {k.lower(): v for k, v in self.headers.items()}
                        f.write(json.dumps(span) + "\n")
        self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
