#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Signs one S3 request with Debian's python3-botocore and prints the result
as JSON, so haul's signer can be cross-checked against the reference SDK.
Input (JSON on stdin): method, host, path (decoded), query [[k, v]...],
body, access_key, secret_key, token, region, timestamp (YYYYmmddTHHMMSSZ)."""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

spec = json.load(sys.stdin)
url = "http://" + spec["host"] + percent_encode(spec["path"], safe="/~")
if spec["query"]:
    url += "?" + "&".join(percent_encode(k) + "=" + percent_encode(v) for k, v in spec["query"])
request = AWSRequest(method=spec["method"], url=url, data=spec["body"].encode())
auth = S3SigV4Auth(Credentials(spec["access_key"], spec["secret_key"], spec["token"] or None), "s3", spec["region"])
now = datetime.datetime.strptime(spec["timestamp"], "%Y%m%dT%H%M%SZ")
captured = []
compute_canonical = auth.canonical_request
auth.canonical_request = lambda r: captured.append(compute_canonical(r)) or captured[-1]
with mock.patch("botocore.auth.datetime") as fake:
    fake.datetime.utcnow.return_value = now
    fake.datetime.strptime = datetime.datetime.strptime
    auth.add_auth(request)
print(json.dumps({
    "canonical_request": captured[-1],
    "authorization": request.headers["Authorization"],
}))
