#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""An HTTP proxy that cuts a download in front of a real server (nginx,
s3rver, the Cloud Storage double), for tests of what a client does when the
object changes between a cut transfer and its resume. Requests are passed on
unchanged (method, path, headers, body); answers come back unchanged, except:

  POST /_proxy/cut {"path": P, "after": N}
       the next GET whose path contains P gets the upstream's status and
       headers (its Content-Length promising every byte), N bytes of the
       body, and then the connection is shut down. Every later request for
       P is held, unanswered, until /_proxy/release — so the test can
       replace the object between the cut and the resume, in that order.
  POST /_proxy/release                 pass the held requests on
  GET  /_proxy/state                   {"cut": bool, "held": n, "log": [{
       "method", "path", "range", "if_match", "if_range", "status"}]}

Usage: cut_proxy.py --port N --upstream http://127.0.0.1:M   (prints "ready")
"""
import argparse
import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class State:
    def __init__(self, upstream):
        self.upstream = urlparse(upstream)
        self.lock = threading.Condition()
        self.cut = None  # {"path", "after"} armed, not yet served
        self.cut_done = False
        self.hold_path = None
        self.held = 0
        self.log = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        st = self.state
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.path.startswith("/_proxy/"):
            return self.control(self.path[len("/_proxy/"):], body)
        record = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                  "if_match": self.headers.get("If-Match"), "if_range": self.headers.get("If-Range")}
        cut_after = None
        with st.lock:
            st.log.append(record)
            if st.cut and self.command == "GET" and st.cut["path"] in self.path:
                cut_after, st.cut = st.cut["after"], None
            elif st.hold_path and st.hold_path in self.path:
                st.held += 1
                st.lock.notify_all()
                st.lock.wait_for(lambda: st.hold_path is None)
        upstream = http.client.HTTPConnection(st.upstream.hostname, st.upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        upstream.close()
        record["status"] = answer.status
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut_after is None:
            self.wfile.write(data)
            return
        # A connection lost mid-body; later requests for the path wait for the test.
        with st.lock:
            st.hold_path = self.path.split("?")[0]
            st.cut_done = True
        self.wfile.write(data[:cut_after])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        record["status"] = "cut"

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = handle_any

    def control(self, what, body):
        st = self.state
        if what == "cut" and self.command == "POST":
            spec = json.loads(body)
            with st.lock:
                st.cut, st.cut_done = {"path": spec["path"], "after": int(spec["after"])}, False
            return self.reply(200, {})
        if what == "release" and self.command == "POST":
            with st.lock:
                st.hold_path = None
                st.lock.notify_all()
            return self.reply(200, {})
        if what == "state":
            with st.lock:
                return self.reply(200, {"cut": st.cut_done, "held": st.held, "log": list(st.log)})
        return self.reply(404, {"error": "unknown control " + what})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    args = ap.parse_args()
    Handler.state = State(args.upstream)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
