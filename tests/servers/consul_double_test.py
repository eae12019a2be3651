#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Consul test double's own tests: what haul's rollouts rely on — KV
check-and-set, locks held by sessions, session TTLs and behaviours, lock
delay, blocking queries — behaves as Consul documents it. Each test starts
its own double on a free loopback port.

Run one: python3 consul_double_test.py ConsulDouble.test_kv_cas
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsulDouble(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "consul_double.py"), "--port", str(self.port)],
                                     stdout=subprocess.PIPE)
        self.assertEqual(self.proc.stdout.readline().strip(), b"ready")

    def tearDown(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()

    def call(self, method, path, body=None, timeout=30):
        if body is None or isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def session(self, **spec):
        status, body, _ = self.call("PUT", "/v1/session/create", spec)
        self.assertEqual(status, 200, body)
        return body["ID"]

    def get(self, key, **query):
        q = "&".join(f"{k}={v}" if v is not True else k for k, v in query.items())
        return self.call("GET", f"/v1/kv/{key}" + (f"?{q}" if q else ""))

    # ---- KV check-and-set ----
    def test_kv_cas(self):
        self.assertEqual(self.call("PUT", "/v1/kv/a?cas=0", "one")[1], True, "cas=0 creates an absent key")
        self.assertEqual(self.call("PUT", "/v1/kv/a?cas=0", "two")[1], False, "cas=0 refuses an existing key")
        index = self.get("a")[1][0]["ModifyIndex"]
        self.assertEqual(self.call("PUT", f"/v1/kv/a?cas={index + 100}", "two")[1], False)
        self.assertEqual(self.call("PUT", f"/v1/kv/a?cas={index}", "two")[1], True)
        self.assertEqual(self.call("DELETE", f"/v1/kv/a?cas={index}")[1], False, "stale index: not deleted")
        now = self.get("a")[1][0]["ModifyIndex"]
        self.assertEqual(self.call("DELETE", f"/v1/kv/a?cas={now}")[1], True)
        self.assertEqual(self.get("a")[0], 404)

    # ---- locks ----
    def test_acquire_and_release_belong_to_the_holding_session(self):
        s1, s2 = self.session(LockDelay="0s"), self.session(LockDelay="0s")
        self.assertEqual(self.call("PUT", f"/v1/kv/lock?acquire={s1}", "x")[1], True)
        item = self.get("lock")[1][0]
        self.assertEqual((item["Session"], item["LockIndex"]), (s1, 1))
        self.assertEqual(self.call("PUT", f"/v1/kv/lock?acquire={s2}", "y")[1], False, "held by s1")
        self.assertEqual(self.call("PUT", f"/v1/kv/lock?release={s2}", "y")[1], False, "s2 does not hold it")
        self.assertEqual(self.call("PUT", f"/v1/kv/lock?release={s1}", "x")[1], True)
        self.assertNotIn("Session", self.get("lock")[1][0])
        self.assertEqual(self.call("PUT", f"/v1/kv/lock?acquire={s2}", "y")[1], True)
        self.assertEqual(self.get("lock")[1][0]["LockIndex"], 2)

    def test_acquire_with_an_unknown_session_is_an_error(self):
        status, body, _ = self.call("PUT", "/v1/kv/lock?acquire=00000000-0000-0000-0000-000000000000", "x")
        self.assertEqual(status, 500)
        self.assertIn("invalid session", body)

    def test_lock_delay_after_invalidation(self):
        slow, other = self.session(), self.session(LockDelay="0s")  # default LockDelay: 15s
        self.assertEqual(self.call("PUT", f"/v1/kv/a?acquire={slow}", "x")[1], True)
        self.call("PUT", f"/v1/session/destroy/{slow}")
        self.assertEqual(self.call("PUT", f"/v1/kv/a?acquire={other}", "y")[1], False, "within the 15s lock delay")
        quick, third = self.session(LockDelay="0s"), self.session(LockDelay="0s")
        self.assertEqual(self.call("PUT", f"/v1/kv/b?acquire={quick}", "x")[1], True)
        self.call("PUT", f"/v1/session/destroy/{quick}")
        self.assertEqual(self.call("PUT", f"/v1/kv/b?acquire={third}", "y")[1], True, "no lock delay")

    def test_session_behaviours_on_destroy(self):
        rel, dele = self.session(LockDelay="0s"), self.session(Behavior="delete", LockDelay="0s")
        self.call("PUT", f"/v1/kv/r?acquire={rel}", "x")
        self.call("PUT", f"/v1/kv/d?acquire={dele}", "x")
        self.call("PUT", f"/v1/session/destroy/{rel}")
        self.call("PUT", f"/v1/session/destroy/{dele}")
        status, items, _ = self.get("r")
        self.assertEqual(status, 200, "release keeps the key")
        self.assertNotIn("Session", items[0])
        self.assertEqual(self.get("d")[0], 404, "delete removes it")

    def test_session_spec_is_checked(self):
        self.assertEqual(self.call("PUT", "/v1/session/create", {"TTL": "5s"})[0], 400, "TTL below 10s")
        self.assertEqual(self.call("PUT", "/v1/session/create", {"Behavior": "explode"})[0], 400)

    def test_session_info_and_list(self):
        sid = self.session(Name="n1", TTL="10s", Behavior="delete")
        status, info, _ = self.call("GET", f"/v1/session/info/{sid}")
        self.assertEqual((status, info[0]["Name"], info[0]["Behavior"], info[0]["TTL"]), (200, "n1", "delete", "10s"))
        self.assertEqual([s["ID"] for s in self.call("GET", "/v1/session/list")[1]], [sid])
        self.call("PUT", f"/v1/session/destroy/{sid}")
        self.assertEqual(self.call("GET", f"/v1/session/info/{sid}")[1], [])
        self.assertEqual(self.call("PUT", f"/v1/session/renew/{sid}")[0], 404)

    # ---- blocking queries ----
    def blocking_get(self, key, index, wait, out, **query):
        out.append(self.get(key, index=index, wait=wait, **query))

    def test_blocking_query_returns_on_a_change(self):
        self.call("PUT", "/v1/kv/p/a", "1")
        _, _, headers = self.get("p/", recurse=True)
        index = int(headers["X-Consul-Index"])
        out = []
        t = threading.Thread(target=self.blocking_get, args=("p/", index, "60s", out), kwargs={"recurse": True})
        t.start()
        self.call("PUT", "/v1/kv/p/b", "2")
        t.join(30)
        self.assertFalse(t.is_alive(), "the blocking query answered the change, not its 60s wait")
        status, items, headers = out[0]
        self.assertGreater(int(headers["X-Consul-Index"]), index)
        self.assertEqual(sorted(i["Key"] for i in items), ["p/a", "p/b"])

    def test_blocking_query_returns_on_a_delete(self):
        self.call("PUT", "/v1/kv/p/a", "1")
        self.call("PUT", "/v1/kv/other", "x")
        _, _, headers = self.get("p/", recurse=True)
        index = int(headers["X-Consul-Index"])
        out = []
        t = threading.Thread(target=self.blocking_get, args=("p/", index, "60s", out), kwargs={"recurse": True})
        t.start()
        self.call("DELETE", "/v1/kv/p/a")
        t.join(30)
        self.assertFalse(t.is_alive(), "a delete (tombstone) moves the prefix's index")
        status, _, headers = out[0]
        self.assertEqual(status, 404)
        self.assertGreater(int(headers["X-Consul-Index"]), index)

    def test_blocking_query_ignores_other_keys_and_times_out(self):
        self.call("PUT", "/v1/kv/p/a", "1")
        _, _, headers = self.get("p/a")
        index = int(headers["X-Consul-Index"])
        self.call("PUT", "/v1/kv/q", "unrelated")
        status, items, headers = self.get("p/a", index=index, wait="1s")
        self.assertEqual(int(headers["X-Consul-Index"]), index, "unchanged after the wait")
        self.assertEqual(items[0]["Key"], "p/a")

    # ---- TTL ----
    def test_ttl_lapses_without_renew_and_runs_the_behaviour(self):
        lapsing = self.session(TTL="10s", Behavior="delete", LockDelay="0s")
        renewed = self.session(TTL="10s", Behavior="delete", LockDelay="0s")
        self.call("PUT", f"/v1/kv/n/lapsing?acquire={lapsing}", "x")
        self.call("PUT", f"/v1/kv/n/renewed?acquire={renewed}", "x")
        index = int(self.get("n/", recurse=True)[2]["X-Consul-Index"])
        stop = threading.Event()

        def renew():
            while not stop.wait(4):
                self.call("PUT", f"/v1/session/renew/{renewed}")
        t = threading.Thread(target=renew)
        t.start()
        try:
            start = time.monotonic()
            keys = ["n/lapsing", "n/renewed"]
            while "n/lapsing" in keys and time.monotonic() - start < 40:
                status, items, headers = self.get("n/", recurse=True, index=index, wait="30s")
                index = int(headers["X-Consul-Index"])
                keys = [i["Key"] for i in items] if status == 200 else []
            lapsed_after = time.monotonic() - start
        finally:
            stop.set()
            t.join()
        self.assertEqual(keys, ["n/renewed"], "the lapsed session's key was deleted, the renewed one kept")
        self.assertGreaterEqual(lapsed_after, 10, "not before the TTL")
        self.assertEqual(self.call("PUT", f"/v1/session/renew/{lapsing}")[0], 404)


if __name__ == "__main__":
    unittest.main()
