"""python3 harness.py <examples/verify> <cases>: see README.md."""
import base64
import sys

sys.path.insert(0, sys.argv[1])
from antom_signature import verify_antom_signature  # noqa: E402
from standard_webhooks import verify_event  # noqa: E402

with open(sys.argv[2]) as f:
    for line in f.read().splitlines():
        if not line:
            continue
        name, fmt, creds, path, now, headers, body = line.split("\t")
        h = {}
        for hl in base64.b64decode(headers).decode("utf-8").split("\n"):
            if hl:
                k, _, v = hl.partition(": ")
                h[k] = v
        creds_list = [c.split(":", 1) for c in creds.split(",")]
        creds_map = {label: base64.b64decode(v).decode("utf-8") for label, v in creds_list}
        raw = base64.b64decode(body)
        if fmt == "sw":
            r = verify_event(list(creds_map.values()), h, raw, 300, int(now))
        else:
            key = creds_map["*"] if "*" in creds_map else creds_map
            r = verify_antom_signature(key, base64.b64decode(path).decode("utf-8"), h, raw)
        if r["ok"]:
            print("%s\tok\t%s" % (name, r["id"] if fmt == "sw" else r["keyVersion"]))
        else:
            print("%s\tfail\t%d\t%s" % (name, r["status"], r["reason"]))
