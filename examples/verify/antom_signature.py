"""Verify a notification in Antom's own format: what Antom sends to your notify URL, or what Caddy
(antom_webhook with `forward_format antom`) forwards to your app. Python 3.6+, standard library only.

    from antom_signature import verify_antom_signature
    # body must be the raw request bytes (Flask: request.get_data(); Django: request.body)
    v = verify_antom_signature(os.environ["ANTOM_PUBLIC_KEY"], request.full_path, request.headers, body)
    if not v["ok"]:
        return v["reason"], v["status"]            # it is sent again later
    n = json.loads(body)                           # trusted: process it once, then answer the ack:
    return {"result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}}

public_key: the key that signs these notifications, one-line base64 as the Antom dashboard shows
it, or PEM. Behind Caddy that is Antom's public key when Caddy passes Antom's signature through,
or the public half of `forward_key` when Caddy signs. While keys rotate, give a dict
keyVersion -> key: {"1": old_key, "2": new_key}.
path: the path (and query, if any) the sender posted to (Flask: request.full_path without a
trailing "?"; Django: request.get_full_path()), unless a proxy in front of the app rewrites it.
request-time is not checked for freshness: Antom and Caddy resend a notification for hours.
Deduplicate on the notification's ids instead.

Returns {"ok": True, "keyVersion"} or {"ok": False, "status": 400|401|500, "reason"}:
401 bad signature or unknown key version, 400 missing/malformed headers, 500 unusable key.

Why no dependency: the standard library has no RSA, but verifying an RSA signature needs only
the public key, so it is done here with the built-in pow() as RFC 8017 (8.2.2) describes: build
the expected PKCS#1 v1.5 block for SHA-256 and compare it whole with signature^e mod n. Nothing
secret is involved, and no subprocess or native package is needed. If your app already uses the
`cryptography` package, its public_key.verify(sig, content, PKCS1v15(), SHA256()) does the same.
"""
import base64
import binascii
import hashlib
import hmac
import re
from urllib.parse import unquote

_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_RSA_OID = bytes.fromhex("06092a864886f70d010101")


def _der(buf, tag):
    """Splits one DER element with the given tag off buf: (content, rest)."""
    if len(buf) < 2 or buf[0] != tag:
        raise ValueError("unexpected DER tag")
    size, i = buf[1], 2
    if size & 0x80:
        i = 2 + (size & 0x7F)
        size = int.from_bytes(buf[2:i], "big")
    if i > 6 or len(buf) < i + size:
        raise ValueError("bad DER length")
    return buf[i:i + size], buf[i + size:]


def _rsa_public_key(text):
    """(n, e) of a SubjectPublicKeyInfo, one-line base64 or PEM."""
    b64 = re.sub(r"-----[A-Z ]+-----|\s", "", text)
    spki, _ = _der(base64.b64decode(b64, validate=True), 0x30)
    alg, rest = _der(spki, 0x30)
    bits, _ = _der(rest, 0x03)
    if not alg.startswith(_RSA_OID) or bits[:1] != b"\x00":
        raise ValueError("not an RSA key")
    seq, _ = _der(bits[1:], 0x30)
    n, rest = _der(seq, 0x02)
    e, _ = _der(rest, 0x02)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def verify_antom_signature(public_key, path, headers, body):
    h = {str(k).lower(): str(v).strip() for k, v in dict(headers).items()}

    def fail(status, reason):
        return {"ok": False, "status": status, "reason": reason}

    for need in ("client-id", "request-time", "signature"):
        if not h.get(need):
            return fail(400, "missing header " + need)

    # algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
    params = {}
    for part in h["signature"].split(","):
        name, eq, value = part.partition("=")
        if eq:
            params[name.strip().lower()] = value.strip()
    if params.get("algorithm", "RSA256").upper() != "RSA256":
        return fail(400, "signature algorithm is not RSA256")
    version = params.get("keyversion") or "1"
    # Percent-decoding only (unquote keeps a raw '+'); a space is a '+' a proxy form-decoded.
    b64 = unquote(params.get("signature", "")).replace(" ", "+")
    try:
        sig = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        sig = b""
    if not sig:
        return fail(400, "signature header has no base64 signature= value")

    if isinstance(public_key, dict):
        if version not in public_key:
            return fail(401, "no public key configured for keyVersion " + version)
        public_key = public_key[version]
    try:
        n, e = _rsa_public_key(public_key)
    except (binascii.Error, ValueError):
        return fail(500, "the configured public key is not an RSA public key (base64 or PEM)")

    if isinstance(body, str):
        body = body.encode("utf-8")
    content = ("POST %s\n%s.%s." % (path, h["client-id"], h["request-time"])).encode("utf-8") + body
    k = (n.bit_length() + 7) // 8
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(content).digest()
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    s = int.from_bytes(sig, "big")
    if len(sig) != k or s >= n or not hmac.compare_digest(pow(s, e, n).to_bytes(k, "big"), expected):
        return fail(401, "bad signature for keyVersion %s (wrong public key, or path/client-id/request-time/body changed)" % version)
    return {"ok": True, "keyVersion": version}
