#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A Consul HTTP API test double for haul's tests (Consul is not packaged for
Debian). It implements, faithfully to Consul's documented behaviour, the part
of the API haul uses:

  PUT  /v1/event/fire/:name   body = payload; ?node= ?service= ?tag= filters;
                              answers the event as JSON (Payload base64);
                              500 over 512 bytes of name + payload, or a tag
                              filter without a service filter
  GET  /v1/event/list         ?name= filter, oldest first, a 256-event ring
                              buffer; X-Consul-Index is derived from the newest
                              event's ID (not a counter), 1 when there are none;
                              blocking with ?index=&wait= (wait capped at 600s)
  GET/PUT/DELETE /v1/kv/:key  ?recurse ?keys ?cas= ?acquire= ?release= ?flags=;
                              X-Consul-Index is the highest ModifyIndex of the
                              matched keys or of their tombstones (a delete
                              moves it), else the KV store's last index;
                              blocking with ?index=&wait= until it exceeds index
  PUT  /v1/session/create     {"TTL": "15s", "Behavior": "delete"|"release",
                              "LockDelay": "15s" (default), "Name": ...}
  PUT  /v1/session/renew/:id, /v1/session/destroy/:id; GET /v1/session/info/:id,
                              /v1/session/list. A session lapses after twice its
                              TTL without a renew (Consul's grace); invalidation
                              runs its behaviour (delete, or release its keys)
                              and starts the lock delay: for LockDelay, no other
                              session may acquire those keys
  ACLs: started with --token T, every request needs X-Consul-Token: T (or
  ?token=T), else 403 "Permission denied: ... lacks permission 'event:read'".

Usage: consul_double.py --port N [--token T] [--node NAME]
It prints "ready" on stdout once it listens on 127.0.0.1.
"""
import argparse
import base64
import json
import random
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

BUFFER = 256
MAX_WAIT_S = 600.0
USER_EVENT_SIZE_LIMIT = 512  # Serf's default, which Consul keeps


def parse_duration(text, default):
    if not text:
        return default
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text)
    if not m:
        return default
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def id_to_index(event_id):
    # Consul: the index of an event list is the XOR of the two 64-bit halves
    # of the newest event's UUID — a hash, so it moves in any direction.
    raw = uuid.UUID(event_id).bytes
    return int.from_bytes(raw[:8], "big") ^ int.from_bytes(raw[8:], "big")


class State:
    def __init__(self, node):
        self.node = node
        self.lock = threading.Condition()
        self.events = []
        self.ltime = 0
        self.kv = {}  # key -> dict(Value bytes, Flags, CreateIndex, ModifyIndex, LockIndex, Session)
        self.tombstones = {}  # deleted key -> the index of its deletion
        self.kv_index = 1  # the KV store's last change
        self.lock_delay = {}  # key -> monotonic time before which only its last holder may acquire it
        self.sessions = {}  # id -> dict(TTL seconds, Behavior, expires, Name, LockDelay)
        self.raft_index = 10

    def bump(self):
        self.raft_index += 1
        return self.raft_index

    def kv_changed(self):
        self.kv_index = self.bump()
        self.lock.notify_all()
        return self.kv_index

    def kv_delete(self, key):
        if self.kv.pop(key, None) is not None:
            self.tombstones[key] = self.kv_changed()

    def kv_prefix_index(self, prefix, exact):
        match = (lambda k: k == prefix) if exact else (lambda k: k.startswith(prefix))
        idx = max([e["ModifyIndex"] for k, e in self.kv.items() if match(k)] +
                  [i for k, i in self.tombstones.items() if match(k)], default=0)
        return idx or self.kv_index

    def expire_sessions(self):
        now = time.monotonic()
        for sid, s in list(self.sessions.items()):
            if s["ttl"] and now > s["expires"]:
                self.destroy_session(sid)

    def destroy_session(self, sid):
        s = self.sessions.pop(sid, None)
        if not s:
            return False
        for key, entry in list(self.kv.items()):
            if entry.get("Session") == sid:
                if s["lock_delay"]:
                    self.lock_delay[key] = (time.monotonic() + s["lock_delay"], sid)
                if s["behavior"] == "delete":
                    self.kv_delete(key)
                else:
                    entry["Session"] = ""
                    entry["ModifyIndex"] = self.kv_changed()
        self.lock.notify_all()
        return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "consul-double"

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing ----
    def reply(self, status, body, index=None, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
            self.send_header("X-Consul-KnownLeader", "true")
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self, query, permission, resource):
        token = self.server.token
        if not token:
            return True
        given = self.headers.get("X-Consul-Token") or query.get("token", [""])[0]
        if given == token:
            return True
        msg = ("Permission denied: token with AccessorID '00000000-0000-0000-0000-000000000002' "
               f"lacks permission '{permission}' on \"{resource}\"")
        self.reply(403, msg.encode(), content_type="text/plain")
        return False

    def route(self, method):
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        path = unquote(url.path)
        state = self.server.state
        with state.lock:
            state.expire_sessions()
        if path.startswith("/v1/event/fire/") and method == "PUT":
            return self.fire(path[len("/v1/event/fire/"):], query)
        if path == "/v1/event/list" and method == "GET":
            return self.list_events(query)
        if path.startswith("/v1/kv/"):
            return self.kv(method, path[len("/v1/kv/"):], query)
        if path == "/v1/session/create" and method == "PUT":
            return self.session_create(query)
        if path.startswith("/v1/session/renew/") and method == "PUT":
            return self.session_renew(path.rsplit("/", 1)[1], query)
        if path.startswith("/v1/session/destroy/") and method == "PUT":
            return self.session_destroy(path.rsplit("/", 1)[1], query)
        if path.startswith("/v1/session/info/") and method == "GET":
            return self.session_info(path.rsplit("/", 1)[1], query)
        if path == "/v1/session/list" and method == "GET":
            return self.session_info(None, query)
        if path == "/v1/agent/self":
            return self.reply(200, {"Config": {"NodeName": state.node, "Datacenter": "dc1"}})
        self.reply(404, b"not found", content_type="text/plain")

    do_GET = lambda self: self.route("GET")
    do_PUT = lambda self: self.route("PUT")
    do_DELETE = lambda self: self.route("DELETE")

    # ---- events ----
    def fire(self, name, query):
        if not self.authorized(query, "event:write", name):
            return
        payload = self.body()
        # Consul validates the filters, then Serf refuses an event over its
        # UserEventSizeLimit (512 bytes of name + payload by default); both
        # come back as HTTP 500 with the error text.
        if query.get("tag", [""])[0] and not query.get("service", [""])[0]:
            return self.reply(500, b"Cannot provide tag filter without service filter.", content_type="text/plain")
        if len(name.encode()) + len(payload) > USER_EVENT_SIZE_LIMIT:
            return self.reply(
                500, b"rpc error making call: user event exceeds configured limit of %d bytes before encoding"
                % USER_EVENT_SIZE_LIMIT, content_type="text/plain")
        state = self.server.state
        with state.lock:
            state.ltime += 1
            event = {
                "ID": str(uuid.uuid4()),
                "Name": name,
                "Payload": base64.b64encode(payload).decode() if payload else None,
                "NodeFilter": query.get("node", [""])[0],
                "ServiceFilter": query.get("service", [""])[0],
                "TagFilter": query.get("tag", [""])[0],
                "Version": 1,
                "LTime": state.ltime,
            }
            state.events.append(event)
            del state.events[:-BUFFER]
            state.lock.notify_all()
        self.reply(200, event)

    def list_events(self, query):
        name = query.get("name", [""])[0]
        if not self.authorized(query, "event:read", name or "*"):
            return
        state = self.server.state

        def snapshot():
            evs = [e for e in state.events if not name or e["Name"] == name]
            return evs, (id_to_index(evs[-1]["ID"]) if evs else 1)

        index = int(query.get("index", ["0"])[0] or 0)
        wait = min(parse_duration(query.get("wait", [""])[0], 300.0), MAX_WAIT_S)
        deadline = time.monotonic() + wait
        with state.lock:
            evs, current = snapshot()
            while index and current == index:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                state.lock.wait(left)
                evs, current = snapshot()
        self.reply(200, evs, index=current)

    # ---- kv ----
    def kv(self, method, key, query):
        perm = "key:read" if method == "GET" else "key:write"
        if not self.authorized(query, perm, key):
            return
        state = self.server.state
        with state.lock:
            if method == "GET":
                return self.kv_get(state, key, query)
            if method == "DELETE":
                existing = state.kv.get(key)
                if "cas" in query:
                    cas = int(query["cas"][0])
                    if not existing or existing["ModifyIndex"] != cas:
                        return self.reply(200, False)
                if "recurse" in query:
                    for k in [k for k in state.kv if k.startswith(key)]:
                        state.kv_delete(k)
                else:
                    state.kv_delete(key)
                return self.reply(200, True)
            value = self.body()
            existing = state.kv.get(key)
            if "cas" in query:
                cas = int(query["cas"][0])
                if (cas == 0 and existing) or (cas and (not existing or existing["ModifyIndex"] != cas)):
                    return self.reply(200, False)
            entry = dict(existing) if existing else {"CreateIndex": 0, "LockIndex": 0, "Session": "", "Flags": 0}
            if "flags" in query:
                entry["Flags"] = int(query["flags"][0])
            if "acquire" in query:
                sid = query["acquire"][0]
                if sid not in state.sessions:
                    return self.reply(500, f"invalid session \"{sid}\"".encode(), content_type="text/plain")
                if entry["Session"] and entry["Session"] != sid:
                    return self.reply(200, False)
                delay = state.lock_delay.get(key)
                if delay and time.monotonic() < delay[0] and delay[1] != sid:
                    return self.reply(200, False)  # Consul: the lock delay of an invalidated session
                if entry["Session"] != sid:
                    entry["LockIndex"] += 1
                entry["Session"] = sid
            if "release" in query:
                if entry["Session"] != query["release"][0]:
                    return self.reply(200, False)
                entry["Session"] = ""
            idx = state.kv_changed()
            if not existing:
                entry["CreateIndex"] = idx
            entry["ModifyIndex"] = idx
            entry["Value"] = value
            state.kv[key] = entry
            state.tombstones.pop(key, None)
            return self.reply(200, True)

    def kv_get(self, state, key, query):
        """Answers at once, or with ?index= blocks (state.lock held, released
        while waiting) until the matched keys' index exceeds it."""
        exact = "recurse" not in query and "keys" not in query
        index = int(query.get("index", ["0"])[0] or 0)
        wait = min(parse_duration(query.get("wait", [""])[0], 300.0), MAX_WAIT_S)
        deadline = time.monotonic() + wait + random.uniform(0, wait / 16)  # Consul's jitter
        current = state.kv_prefix_index(key, exact)
        while index and current <= index:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            state.lock.wait(min(left, 0.5))
            state.expire_sessions()
            current = state.kv_prefix_index(key, exact)
        if "keys" in query:
            keys = sorted(k for k in state.kv if k.startswith(key))
            return self.reply(200 if keys else 404, keys, index=current)
        if exact:
            items = [self.kv_json(key, state.kv[key])] if key in state.kv else []
        else:
            items = [self.kv_json(k, v) for k, v in sorted(state.kv.items()) if k.startswith(key)]
        if not items:
            return self.reply(404, b"", index=current)
        return self.reply(200, items, index=current)

    @staticmethod
    def kv_json(key, e):
        return {"Key": key, "Value": base64.b64encode(e["Value"]).decode() if e["Value"] else None,
                "Flags": e["Flags"], "CreateIndex": e["CreateIndex"], "ModifyIndex": e["ModifyIndex"],
                "LockIndex": e["LockIndex"], **({"Session": e["Session"]} if e["Session"] else {})}

    # ---- sessions ----
    def session_create(self, query):
        if not self.authorized(query, "session:write", self.server.state.node):
            return
        spec = json.loads(self.body() or b"{}")
        ttl = parse_duration(spec.get("TTL", ""), 0)
        if ttl and not 10 <= ttl <= 86400:
            return self.reply(400, b"Invalid Session TTL '%s', must be between [10s=24h0m0s]" % spec["TTL"].encode(),
                              content_type="text/plain")
        behavior = spec.get("Behavior", "release")
        if behavior not in ("release", "delete"):
            return self.reply(400, b"Invalid Behavior setting '%s'" % behavior.encode(), content_type="text/plain")
        lock_delay = parse_duration(spec.get("LockDelay", ""), 15.0)
        sid = str(uuid.uuid4())
        state = self.server.state
        with state.lock:
            # Consul lets a session live up to twice its TTL before invalidating it.
            state.sessions[sid] = {"ttl": ttl, "behavior": behavior, "lock_delay": lock_delay,
                                   "expires": time.monotonic() + 2 * ttl, "name": spec.get("Name", ""),
                                   "create_index": state.bump()}
        self.reply(200, {"ID": sid})

    def session_info(self, sid, query):
        if not self.authorized(query, "session:read", self.server.state.node):
            return
        state = self.server.state
        with state.lock:
            found = [(i, s) for i, s in state.sessions.items() if sid is None or i == sid]
            out = [{"ID": i, "Name": s["name"], "Node": state.node, "Behavior": s["behavior"],
                    "TTL": f"{int(s['ttl'])}s" if s["ttl"] else "", "LockDelay": int(s["lock_delay"] * 1e9),
                    "CreateIndex": s["create_index"], "ModifyIndex": s["create_index"]} for i, s in found]
            self.reply(200, out, index=state.raft_index)

    def session_renew(self, sid, query):
        if not self.authorized(query, "session:write", self.server.state.node):
            return
        state = self.server.state
        with state.lock:
            s = state.sessions.get(sid)
            if not s:
                return self.reply(404, f"Session id '{sid}' not found".encode(), content_type="text/plain")
            s["expires"] = time.monotonic() + 2 * s["ttl"]
        self.reply(200, [{"ID": sid, "TTL": f"{int(s['ttl'])}s", "Behavior": s["behavior"]}])

    def session_destroy(self, sid, query):
        if not self.authorized(query, "session:write", self.server.state.node):
            return
        with self.server.state.lock:
            self.server.state.destroy_session(sid)
        self.reply(200, True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--node", default="consul-double")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args.node)
    server.token = args.token

    def reap():
        # Consul invalidates lapsed sessions on its own, not when asked:
        # blocking queries on their keys must wake without another request.
        while True:
            time.sleep(0.2)
            with server.state.lock:
                server.state.expire_sessions()
    threading.Thread(target=reap, daemon=True).start()
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
