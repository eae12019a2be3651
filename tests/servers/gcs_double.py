#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A Cloud Storage test double for haul's gs:// source (Google's own emulator
is not packaged for Debian). It serves, as Google documents them, the parts of
the APIs haul speaks, and checks haul's credentials with independent code:

  POST /token                 OAuth 2.0 token endpoint. grant_type
                              urn:ietf:params:oauth:grant-type:jwt-bearer: the
                              assertion is verified with python3-jwt (PyJWT)
                              against the public half of the service account
                              key this double made — RS256 signature, kid,
                              iss, aud (this URL), scope (devstorage), iat/exp
                              (at most an hour apart, not expired).
                              grant_type refresh_token: client id, secret and
                              refresh token of the authorized_user file.
                              Errors: 400 {"error": "invalid_grant", ...}
  GET  /computeMetadata/v1/instance/service-accounts/default/token
                              the metadata server: needs Metadata-Flavor:
                              Google (else 403), answers with it
  GET  /storage/v1/b/B/o/O?alt=media   JSON API media download; Range: bytes=N-
                              (206, 416 past the end); x-goog-generation;
                              ifGenerationMatch (412 conditionNotMet)
  GET  /storage/v1/b/B/o?prefix=P&maxResults=N&pageToken=T   objects.list:
                              {"items": [{"name", "size" (a string),
                              "updated" (RFC 3339)}], "nextPageToken"}
  DELETE /storage/v1/b/B/o/O  objects.delete (204; 404 notFound when absent)
  POST /upload/storage/v1/b/B/o?uploadType=media&name=O       simple upload
  POST /upload/storage/v1/b/B/o?uploadType=resumable&name=O   a session URI in
                              Location; PUT to it with Content-Range
                              "bytes A-B/SIZE" (308 + Range: bytes=0-N until
                              complete, then 200) or "bytes */SIZE" (status);
                              DELETE cancels it (499)
  JSON API errors: {"error": {"code", "message", "errors": [{"reason", ...}]}};
  a missing, unknown, expired or revoked token is 401 (authError/required).
  XML API with HMAC keys: GET (Range) and PUT /B/O signed AWS4-HMAC-SHA256;
  the signature is recomputed with python3-botocore from the secret; errors as
  XML <Error><Code>. (Its multipart upload is not served.)

Test controls (no credentials needed), under /_double/:
  POST objects/B/O (body = data)       put an object, new generation
  GET  objects/B/O                     read one
  POST fail {"path", "method", "status", "reason", "count", "skip"}   of the
       requests whose path contains `path`, the count after the first skip
       answer status
  POST cut {"bucket", "object", "after"[, "then_base64"]}   the next download
       of it stops after `after` bytes (Content-Length promises the rest);
       with then_base64, those bytes replace the object (a new generation)
       before the connection is shut: a publish landing between two attempts
  POST revoke                          every token issued so far is refused
  GET  log                             the requests so far, as JSON

Usage: gcs_double.py --port N [--bucket B ...] [--service-account-out F]
       [--authorized-user-out F] [--token-lifetime S] [--hmac ID:SECRET]
       [--allow-anonymous]
"""
import argparse
import base64
import datetime
import hashlib
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qs, quote, unquote, urlparse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

EMAIL = "deployer@haul-test.iam.gserviceaccount.com"
SCOPE_PREFIX = "https://www.googleapis.com/auth/devstorage."


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.token_url = "http://127.0.0.1:%d/token" % args.port
        self.buckets = set(args.bucket or ["releases"])
        self.objects = {}  # (bucket, name) -> (bytes, generation)
        self.updated = {}  # (bucket, name) -> unix time of the last write
        self.generation = 1000
        self.tokens = {}  # token -> (expiry, identity)
        self.sessions = {}  # upload id -> dict
        self.faults = []
        self.cuts = {}
        self.log = []
        self.key_id = secrets.token_hex(20)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.user = {"client_id": "haul-test.apps.googleusercontent.com",
                     "client_secret": "double-client-secret-" + secrets.token_hex(8),
                     "refresh_token": "1//double-refresh-" + secrets.token_hex(16)}
        self.hmac = dict(pair.split(":", 1) for pair in (args.hmac or []))

    def put(self, bucket, name, data):
        with self.lock:
            self.generation += 1
            self.objects[(bucket, name)] = (bytes(data), self.generation)
            self.updated[(bucket, name)] = time.time()
            return self.generation

    def issue(self, identity):
        token = "ya29.double-" + secrets.token_hex(16)
        with self.lock:
            self.tokens[token] = (time.time() + self.args.token_lifetime, identity)
        return {"access_token": token, "expires_in": self.args.token_lifetime, "token_type": "Bearer"}

    def write_key_files(self):
        if self.args.service_account_out:
            pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()
            with open(self.args.service_account_out, "w") as f:
                json.dump({"type": "service_account", "project_id": "haul-test", "private_key_id": self.key_id,
                           "private_key": pem, "client_email": EMAIL, "client_id": "1234567890",
                           "token_uri": self.token_url}, f)
        if self.args.authorized_user_out:
            with open(self.args.authorized_user_out, "w") as f:
                json.dump(dict(self.user, type="authorized_user", token_uri=self.token_url), f)


def json_error(code, reason, message):
    return {"error": {"code": code, "message": message,
                      "errors": [{"domain": "global", "reason": reason, "message": message}]}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *args):
        pass

    # ---- plumbing ----
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body=b"", headers=None, content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record["status"] = status

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        url = urlparse(self.path)
        self.url, self.query = url, {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        auth = self.headers.get("Authorization", "")
        self.record = {"method": self.command, "path": url.path, "query": self.query,
                       "auth": auth.split(" ", 1)[0] if auth else "none",
                       "range": self.headers.get("Range"), "content_range": self.headers.get("Content-Range")}
        st = self.state
        if not url.path.startswith("/_double/"):
            with st.lock:
                st.log.append(self.record)
            fault = self.take_fault(url.path)
            if fault:
                self.body()
                reason = fault.get("reason", "backendError")
                return self.send(fault["status"], json_error(fault["status"], reason, "injected by the test: " + reason))
        try:
            self.route(url.path)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def take_fault(self, path):
        st = self.state
        with st.lock:
            for f in st.faults:
                if f["count"] > 0 and f["path"] in path and f.get("method", self.command) == self.command:
                    if f.get("skip", 0) > 0:
                        f["skip"] -= 1
                        continue
                    f["count"] -= 1
                    return f
        return None

    def route(self, path):
        if path.startswith("/_double/"):
            return self.control(path[len("/_double/"):])
        if path == "/token" and self.command == "POST":
            return self.token()
        if path.startswith("/computeMetadata/v1/"):
            return self.metadata(path)
        if path.startswith("/storage/v1/b/") or path.startswith("/upload/storage/v1/b/"):
            return self.json_api(path)
        return self.xml_api(path)

    # ---- test controls ----
    def control(self, what):
        st = self.state
        if what.startswith("objects/"):
            bucket, _, name = what[len("objects/"):].partition("/")
            name = unquote(name)
            if self.command == "POST":
                return self.send(200, {"generation": st.put(bucket, name, self.body())})
            with st.lock:
                obj = st.objects.get((bucket, name))
            return self.send(200, obj[0], content_type="application/octet-stream") if obj else self.send(404, "")
        if what == "fail":
            with st.lock:
                st.faults.append(json.loads(self.body()))
            return self.send(200, {})
        if what == "cut":
            spec = json.loads(self.body())
            with st.lock:
                st.cuts[(spec["bucket"], spec["object"])] = (spec["after"], spec.get("then_base64"))
            return self.send(200, {})
        if what == "revoke":
            with st.lock:
                st.tokens.clear()
            return self.send(200, {})
        if what == "log":
            with st.lock:
                return self.send(200, list(st.log))
        return self.send(404, "unknown control " + what)

    # ---- OAuth ----
    def token(self):
        st = self.state
        form = {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
        grant = form.get("grant_type")

        def refuse(error, description):
            self.send(400, {"error": error, "error_description": description})

        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = form.get("assertion", "")
            try:
                header = jwt.get_unverified_header(assertion)
                claims = jwt.decode(assertion, st.public_pem, algorithms=["RS256"], audience=st.token_url,
                                    options={"require": ["exp", "iat", "iss", "aud"]})
            except jwt.ExpiredSignatureError:
                return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
            except jwt.InvalidAudienceError:
                return refuse("invalid_grant", "Invalid JWT audience.")
            except jwt.InvalidTokenError:
                return refuse("invalid_grant", "Invalid JWT Signature.")
            if header.get("kid") != st.key_id or header.get("typ") != "JWT":
                return refuse("invalid_grant", "Invalid JWT Signature.")
            if claims["iss"] != EMAIL:
                return refuse("invalid_grant", "Invalid email or User ID")
            if not any(s.startswith(SCOPE_PREFIX) for s in claims.get("scope", "").split()):
                return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
            if claims["exp"] - claims["iat"] > 3600 or claims["iat"] > time.time() + 300:
                return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
            return self.send(200, st.issue("service account " + EMAIL))
        if grant == "refresh_token":
            if form.get("client_id") != st.user["client_id"] or form.get("client_secret") != st.user["client_secret"]:
                return self.send(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
            if form.get("refresh_token") != st.user["refresh_token"]:
                return refuse("invalid_grant", "Bad Request")
            return self.send(200, st.issue("user"))
        return self.send(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: %s" % grant})

    def metadata(self, path):
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.send(403, "Missing Metadata-Flavor:Google header.", {"Metadata-Flavor": "Google"}, "text/html")
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            return self.send(200, self.state.issue("metadata default"), {"Metadata-Flavor": "Google"})
        return self.send(404, "not found", {"Metadata-Flavor": "Google"}, "text/html")

    # ---- JSON API ----
    def bearer_ok(self):
        st = self.state
        auth = self.headers.get("Authorization", "")
        if not auth:
            if st.args.allow_anonymous:
                return True
            self.send(401, json_error(401, "required", "Anonymous caller does not have storage.objects.get access."))
            return False
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with st.lock:
            entry = st.tokens.get(token)
        if not entry or entry[0] < time.time():
            self.send(401, json_error(401, "authError", "Invalid Credentials"))
            return False
        return True

    def json_api(self, path):
        st = self.state
        upload = path.startswith("/upload/")
        parts = path[len("/upload/storage/v1/b/" if upload else "/storage/v1/b/"):].split("/", 2)
        bucket = unquote(parts[0])
        if not self.bearer_ok():
            return
        if bucket not in st.buckets:
            self.body()
            return self.send(404, json_error(404, "notFound", "The specified bucket does not exist."))
        if upload:
            return self.json_upload(bucket)
        if len(parts) == 2 and parts[1] == "o" and self.command == "GET":
            return self.json_list(bucket)
        if len(parts) == 3 and parts[1] == "o" and self.command == "DELETE":
            with st.lock:
                gone = st.objects.pop((bucket, unquote(parts[2])), None)
            if gone is None:
                return self.send(404, json_error(404, "notFound", "No such object: %s/%s" % (bucket, unquote(parts[2]))))
            return self.send(204, b"")
        if len(parts) < 3 or parts[1] != "o" or self.command != "GET" or self.query.get("alt") != "media":
            return self.send(400, json_error(400, "invalid", "only media downloads are served"))
        name = unquote(parts[2])
        with st.lock:
            obj = st.objects.get((bucket, name))
            cut = st.cuts.pop((bucket, name), None)
        if obj is None:
            return self.send(404, json_error(404, "notFound", "No such object: %s/%s" % (bucket, name)))
        data, generation = obj
        if "ifGenerationMatch" in self.query and self.query["ifGenerationMatch"] != str(generation):
            return self.send(412, json_error(412, "conditionNotMet",
                                             "At least one of the pre-conditions you specified did not hold."))
        headers = {"x-goog-generation": str(generation), "ETag": '"%d"' % generation}
        status, start = 200, 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                return self.send(416, json_error(416, "requestedRangeNotSatisfiable", "Request range not satisfiable"),
                                 {"Content-Range": "bytes */%d" % len(data)})
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        payload = data[start:]
        if cut is None:
            return self.send(status, payload, headers, "application/octet-stream")
        # A connection lost mid-body: the headers promise all of it.
        after, then = cut
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[:after])
        self.wfile.flush()
        if then is not None:
            st.put(bucket, name, base64.b64decode(then))
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        self.record["status"] = "cut"

    def json_list(self, bucket):
        st = self.state
        prefix = self.query.get("prefix", "")
        size = int(self.query.get("maxResults", "1000"))
        start = self.query.get("pageToken", "")  # the double's token: the last name of the previous page
        with st.lock:
            names = sorted(n for (b, n) in st.objects if b == bucket and n.startswith(prefix) and n > start)
            page = names[:size]
            items = [{"name": n, "size": str(len(st.objects[(bucket, n)][0])),
                      "updated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(st.updated[(bucket, n)]))}
                     for n in page]
        answer = {"kind": "storage#objects", "items": items}
        if len(names) > size:
            answer["nextPageToken"] = page[-1]
        return self.send(200, json.dumps(answer).encode(), {}, "application/json")

    def json_upload(self, bucket):
        st = self.state
        kind = self.query.get("uploadType")
        if kind == "media" and self.command == "POST":
            name = self.query.get("name", "")
            generation = st.put(bucket, name, self.body())
            return self.send(200, {"bucket": bucket, "name": name, "generation": str(generation)})
        if kind == "resumable" and self.command == "POST":
            self.body()
            upload_id = secrets.token_hex(12)
            with st.lock:
                st.sessions[upload_id] = {"bucket": bucket, "name": self.query.get("name", ""), "data": bytearray(),
                                          "size": int(self.headers.get("X-Upload-Content-Length") or -1)}
            location = "http://127.0.0.1:%d/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s" % (
                st.args.port, quote(bucket), upload_id)
            return self.send(200, "", {"Location": location})
        if kind == "resumable" and "upload_id" in self.query:
            with st.lock:
                session = st.sessions.get(self.query["upload_id"])
            if session is None:
                self.body()
                return self.send(404, json_error(404, "notFound", "No such upload session"))
            if self.command == "DELETE":
                with st.lock:
                    st.sessions.pop(self.query["upload_id"], None)
                return self.send(499, "")
            return self.resumable_put(session)
        return self.send(400, json_error(400, "invalid", "unsupported upload"))

    def resumable_put(self, session):
        st = self.state
        data = self.body()
        spec = (self.headers.get("Content-Range") or "").replace("bytes ", "")
        span, _, total = spec.partition("/")
        kept = len(session["data"])
        if span != "*":
            first, _, last = span.partition("-")
            if int(first) != kept:
                return self.send(503, json_error(503, "backendError", "chunk does not start where the upload is"))
            if int(last) - int(first) + 1 != len(data):
                return self.send(400, json_error(400, "invalid", "Content-Range does not match the body"))
            session["data"] += data
            kept = len(session["data"])
        if total != "*" and kept == int(total):
            generation = st.put(session["bucket"], session["name"], session["data"])
            return self.send(200, {"bucket": session["bucket"], "name": session["name"], "generation": str(generation)})
        return self.send(308, "", {"Range": "bytes=0-%d" % (kept - 1)} if kept else {})

    # ---- XML API (HMAC) ----
    def xml_error(self, status, code, message):
        self.send(status, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>%s</Code><Message>%s</Message></Error>"
                  % (code, message), content_type="application/xml")

    def hmac_ok(self, body):
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential="):
            self.xml_error(403, "AccessDenied", "Anonymous caller does not have storage.objects.get access.")
            return False
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        access_id, region = scope[0], scope[2]
        secret = self.state.hmac.get(access_id)
        if secret is None:
            self.xml_error(403, "InvalidAccessKeyId", "The provided security credentials are not valid.")
            return False
        claimed = self.headers.get("x-amz-content-sha256", "")
        if claimed != "UNSIGNED-PAYLOAD" and claimed != hashlib.sha256(body).hexdigest():
            self.xml_error(400, "XAmzContentSHA256Mismatch", "The provided x-amz-content-sha256 does not match.")
            return False
        url = "http://" + self.headers["Host"] + quote(unquote(self.url.path), safe="/~")
        if self.url.query:
            url += "?" + self.url.query
        request = AWSRequest(method=self.command, url=url, data=body)
        signer = S3SigV4Auth(Credentials(access_id, secret), "s3", region)
        signer.payload = lambda _request: claimed
        when = datetime.datetime.strptime(self.headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
        with mock.patch("botocore.auth.datetime") as fake:
            fake.datetime.utcnow.return_value = when
            fake.datetime.strptime = datetime.datetime.strptime
            signer.add_auth(request)
        if request.headers["Authorization"] != auth:
            self.xml_error(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.")
            return False
        return True

    def xml_api(self, path):
        st = self.state
        body = self.body()
        if not self.hmac_ok(body):
            return
        bucket, _, name = unquote(path[1:]).partition("/")
        if bucket not in st.buckets:
            return self.xml_error(404, "NoSuchBucket", "The specified bucket does not exist.")
        if "uploads" in self.query or "uploadId" in self.query:
            return self.xml_error(501, "NotImplemented", "multipart uploads are not served by this double")
        if self.command == "PUT":
            generation = st.put(bucket, name, body)
            return self.send(200, "", {"ETag": '"%d"' % generation, "x-goog-generation": str(generation)})
        with st.lock:
            obj = st.objects.get((bucket, name))
        if obj is None:
            return self.xml_error(404, "NoSuchKey", "The specified key does not exist.")
        data, generation = obj
        if self.headers.get("If-Match") and self.headers["If-Match"] != '"%d"' % generation:
            return self.xml_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
        start, status, headers = 0, 200, {"ETag": '"%d"' % generation}
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start, status = int(rng[6:].split("-")[0]), 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        return self.send(status, data[start:], headers, "application/octet-stream")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", action="append")
    parser.add_argument("--service-account-out")
    parser.add_argument("--authorized-user-out")
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--hmac", action="append", help="ID:SECRET of an HMAC key")
    parser.add_argument("--allow-anonymous", action="store_true")
    args = parser.parse_args()
    Handler.state = State(args)
    Handler.state.write_key_files()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
