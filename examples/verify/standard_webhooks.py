"""Verify an event forwarded by Caddy (Standard Webhooks). Python 3.6+, standard library only.

    from standard_webhooks import verify_event
    # body must be the raw request bytes (Flask: request.get_data(); Django: request.body)
    v = verify_event(os.environ["ANTOM_FORWARD_SECRET"], request.headers, body)
    if not v["ok"]:
        return v["reason"], v["status"]
    event = json.loads(body)  # trusted; v["id"] is the webhook-id (use it to deduplicate)

secret may be a list of secrets while you rotate them (the event is authentic if it is signed
with any): verify_event([new_secret, old_secret], ...).

Returns {"ok": True, "id", "timestamp"} or {"ok": False, "status": 400|401|500, "reason"}.
"""
import base64
import binascii
import hashlib
import hmac
import re
import time


def verify_event(secret, headers, body, tolerance=300, now=None):
    h = {str(k).lower(): str(v) for k, v in dict(headers).items()}

    def fail(status, reason):
        return {"ok": False, "status": status, "reason": reason}

    keys = []
    for one in [secret] if isinstance(secret, str) else list(secret):
        b64 = one[len("whsec_"):] if one.startswith("whsec_") else one
        try:
            key = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not key:
            return fail(500, "secret is empty or not base64 (expected whsec_<base64>)")
        keys.append(key)
    if not keys:
        return fail(500, "no secret given")

    for need in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not h.get(need, "").strip():
            return fail(400, "missing header " + need)
    msg_id = h["webhook-id"]
    ts = h["webhook-timestamp"].strip()
    if not re.fullmatch(r"[0-9]{1,12}", ts):
        return fail(400, "webhook-timestamp is not unix seconds")

    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = (msg_id + "." + ts + ".").encode("utf-8") + body
    valid = False
    for key in keys:
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        for entry in h["webhook-signature"].split():
            version, _, sig = entry.partition(",")
            if version == "v1" and hmac.compare_digest(sig.encode("utf-8", "replace"), expected):
                valid = True
    if not valid:
        return fail(401, "no valid v1 signature (wrong secret, or body/id/timestamp changed)")

    now = int(time.time()) if now is None else int(now)
    if int(ts) < now - tolerance:
        return fail(400, "timestamp too old")
    if int(ts) > now + tolerance:
        return fail(400, "timestamp too new (check the clocks)")
    return {"ok": True, "id": msg_id, "timestamp": int(ts)}
