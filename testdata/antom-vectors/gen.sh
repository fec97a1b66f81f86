#!/usr/bin/env bash
# Reproducible generator for Antom (AMS) signing test vectors.
#
# Algorithm mirrored (see docs/antom-protocol.md, section 1):
#   content = METHOD + " " + PATH + "\n" + CLIENT_ID + "." + TIME + "." + BODY   (UTF-8, no trailing newline)
#   sig     = RSASSA-PKCS1-v1_5( SHA-256(content) )           == Java "SHA256withRSA"
#   b64     = standard base64 WITH padding, no line breaks      == commons-codec encodeBase64String / Go StdEncoding
#   enc     = form-URL-encode(b64)   (+ -> %2B, / -> %2F, = -> %3D, upper-case hex)
#                                                               == java.net.URLEncoder / Go url.QueryEscape / Python quote_plus
#   header  = "Signature: algorithm=RSA256,keyVersion=1,signature=" + enc
#
# openssl mirror: "openssl dgst -sha256 -sign key.pem" produces exactly an RSASSA-PKCS1-v1_5/SHA-256
# signature over the raw bytes of the file, i.e. what Signature.getInstance("SHA256withRSA") produces.
# PKCS#1 v1.5 signatures are deterministic, so the same key + same content always gives the same bytes.
#
# Usage: ./gen.sh            (re-uses keys/ if present, otherwise generates fresh RSA-2048 keys)
set -euo pipefail
cd "$(dirname "$0")"

mkdir -p keys request request_sandbox notification

# ---------------------------------------------------------------- keys
genkey() { # $1 = name
  local n=$1
  if [ ! -f "keys/${n}_private_pkcs8.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "keys/${n}_private_pkcs8.pem" 2>/dev/null
  fi
  # PKCS#1 ("BEGIN RSA PRIVATE KEY") form of the same key
  openssl pkey -in "keys/${n}_private_pkcs8.pem" -traditional -out "keys/${n}_private_pkcs1.pem" 2>/dev/null \
    || openssl rsa -in "keys/${n}_private_pkcs8.pem" -traditional -out "keys/${n}_private_pkcs1.pem" 2>/dev/null
  # SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") form
  openssl pkey -in "keys/${n}_private_pkcs8.pem" -pubout -out "keys/${n}_public_spki.pem"
  # Single-line base64 of the DER bodies = the strings the SDKs/dashboard expect
  # (merchantPrivateKey = PKCS#8 DER base64; alipayPublicKey = X.509 SPKI DER base64)
  # NB: "openssl pkey -outform DER" would emit the *traditional* (PKCS#1) structure; force PKCS#8 explicitly.
  openssl pkcs8 -topk8 -nocrypt -in "keys/${n}_private_pkcs8.pem" -outform DER | openssl base64 -A > "keys/${n}_private_pkcs8.b64"
  openssl pkey -in "keys/${n}_private_pkcs8.pem" -traditional -outform DER 2>/dev/null | openssl base64 -A > "keys/${n}_private_pkcs1.b64" \
    || openssl rsa -in "keys/${n}_private_pkcs8.pem" -traditional -outform DER | openssl base64 -A > "keys/${n}_private_pkcs1.b64"
  openssl pkey -in "keys/${n}_private_pkcs8.pem" -pubout -outform DER | openssl base64 -A > "keys/${n}_public_spki.b64"
}
genkey merchant     # merchant's key pair: signs API requests; public half is uploaded to Antom Dashboard
genkey antom_sim    # stands in for Antom's key pair: signs notifications/responses; public half = "alipayPublicKey"

# ---------------------------------------------------------------- helpers
urlenc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote_plus(sys.stdin.read().strip()), end="")'; }
urlenc_lower() { python3 -c 'import sys,urllib.parse,re; s=urllib.parse.quote_plus(sys.stdin.read().strip()); print(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), s), end="")'; }

make_vector() { # $1=dir $2=method $3=path $4=client-id $5=time $6=signing key name $7=verify key name
  local d=$1 method=$2 path=$3 cid=$4 t=$5 skey=$6 vkey=$7
  # content-to-sign: exact bytes, "\n" is a single LF, NO trailing newline
  { printf '%s %s\n%s.%s.' "$method" "$path" "$cid" "$t"; cat "$d/body.json"; } > "$d/content_to_sign.txt"
  openssl dgst -sha256 -sign "keys/${skey}_private_pkcs8.pem" -out "$d/signature.bin" "$d/content_to_sign.txt"
  openssl base64 -A -in "$d/signature.bin" > "$d/signature.b64"
  urlenc < "$d/signature.b64" > "$d/signature.urlenc"
  urlenc_lower < "$d/signature.b64" > "$d/signature.urlenc.lowerhex"   # what .NET HttpUtility.UrlEncode would emit
  printf 'algorithm=RSA256,keyVersion=1,signature=%s' "$(cat "$d/signature.urlenc")" > "$d/signature_header_value.txt"
  openssl dgst -sha256 -verify "keys/${vkey}_public_spki.pem" -signature "$d/signature.bin" "$d/content_to_sign.txt" > "$d/openssl_verify.txt"
  sha256sum "$d/content_to_sign.txt" | cut -d' ' -f1 > "$d/content_to_sign.sha256"
}

# ---------------------------------------------------------------- vector 1: API request (production path)
# Fixed inputs. Body bytes are exactly what is sent on the wire (compact JSON, one non-ASCII char to exercise UTF-8).
printf '%s' '{"env":{"terminalType":"WEB"},"order":{"orderAmount":{"currency":"USD","value":"1000"},"orderDescription":"Café order #1","referenceOrderId":"ORDER_20240101_0001"},"paymentAmount":{"currency":"USD","value":"1000"},"paymentNotifyUrl":"https://merchant.example.com/antom/notify","paymentRedirectUrl":"https://merchant.example.com/return?o=ORDER_20240101_0001","paymentRequestId":"PAYREQ_20240101_0001","productCode":"CASHIER_PAYMENT","settlementStrategy":{"settlementCurrency":"USD"}}' > request/body.json
make_vector request POST /ams/api/v1/payments/createPaymentSession TEST_5X00000000000000 1704067200000 merchant merchant

# ---------------------------------------------------------------- vector 1b: same request from a SANDBOX_ client id
# The SDKs rewrite the FIRST "/ams/api" to "/ams/sandbox/api" BEFORE signing when clientId starts with "SANDBOX_",
# so the signed path (and the URL path) is /ams/sandbox/api/...
cp request/body.json request_sandbox/body.json
make_vector request_sandbox POST /ams/sandbox/api/v1/payments/createPaymentSession SANDBOX_5X00000000000000 1704067200000 merchant merchant

# ---------------------------------------------------------------- vector 2: notification (Antom -> merchant)
# Path = the merchant's own notify path (paymentNotifyUrl without scheme/host), client-id = merchant's client id,
# time = the Request-Time header value as received (treated as an opaque string), body = raw request body bytes.
printf '%s' '{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success."},"paymentRequestId":"PAYREQ_20240101_0001","paymentId":"202401011940108001001881234567890","paymentAmount":{"value":"1000","currency":"USD"},"paymentCreateTime":"2024-01-01T00:00:05-08:00","paymentTime":"2024-01-01T00:01:10-08:00"}' > notification/body.json
make_vector notification POST /antom/notify TEST_5X00000000000000 2024-01-01T00:01:11-08:00 antom_sim antom_sim

# acknowledgement the merchant must return (HTTP 200, Content-Type: application/json); fixed value per docs
printf '%s' '{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}' > notification/ack_body.json

echo "done"
