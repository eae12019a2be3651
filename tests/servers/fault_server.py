#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A fault-injecting HTTP server for haul's network-fault tests. It serves
files from a folder (with Range support) and misbehaves as the URL asks:

  /<fault>/<times>/<file>
    ok             serve normally
    reset=N        close the connection after N body bytes
    stall=N        send N bytes, then nothing (until the client gives up)
    short          announce the full Content-Length, send half, close
    long           announce a Content-Length shorter than what is sent
    overlong       announce a Content-Length longer than the file, send it all, close
    status=S       answer HTTP S (e.g. 503, 429) with no body
    loop           redirect to itself
    replace=N      close the connection after N body bytes, and before that
                   put the file <file>.next in the file's place (a publish
                   landing between the cut and the resume)
  <times>: how many requests for this path misbehave before it serves
  normally (so retries can succeed); 0 = always.

Files are served as a static server (nginx) serves them: a strong ETag and
Last-Modified from the file's mtime and size, and If-Range honoured (RFC 9110:
a validator that no longer matches makes the Range ignored: 200, the whole
file). ?validators=0 leaves both headers out, as a dynamic handler might;
any other query string (e.g. ?run=3) only makes the counter per run.

Usage: fault_server.py --port N --root DIR   (prints "ready" when listening)
"""
import argparse
import email.utils
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        m = re.match(r"^/([^/]+)/(\d+)/([^?]+)", self.path)
        if not m:
            return self.plain(404)
        fault, times, name = m.group(1), int(m.group(2)), m.group(3)
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            n = counts[self.path]
        if times and n > times:
            fault = "ok"
        if fault == "loop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault.startswith("status="):
            status = int(fault.split("=")[1])
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = os.path.join(self.server.root, name)
        if not os.path.isfile(path):
            return self.plain(404)
        with open(path, "rb") as f:
            data = f.read()
            st = os.fstat(f.fileno())
        validators = {}
        if "validators=0" not in self.path:
            validators = {"ETag": '"%x-%x"' % (int(st.st_mtime), st.st_size),
                          "Last-Modified": email.utils.formatdate(int(st.st_mtime), usegmt=True)}
        start = 0
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and if_range is not None and if_range not in (validators.get("ETag"), validators.get("Last-Modified")):
            rng = None  # the representation changed: the whole of it
        if rng and fault == "ok":
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):  # RFC 9110: unsatisfiable, with the real size
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        for k, v in validators.items():
            self.send_header(k, v)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        length = len(body)
        if fault == "long":
            length = max(0, len(body) // 2)
        if fault == "overlong":
            length = len(body) + 100
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if fault.startswith("reset="):
            self.wfile.write(body[: int(fault.split("=")[1])])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault.startswith("replace="):
            self.wfile.write(body[: int(fault.split("=")[1])])
            self.wfile.flush()
            os.replace(path + ".next", path)
            self.close_connection = True
            return
        if fault.startswith("stall="):
            self.wfile.write(body[: int(fault.split("=")[1])])
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        if fault == "short":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)
        if fault in ("long", "overlong"):
            self.close_connection = True

    def plain(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.root = args.root
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
