#!/bin/sh
# Regenerates vectors.json: Standard Webhooks test cases whose signatures are computed by the
# openssl CLI (an implementation independent of the Standard Webhooks snippets beside this file).
# Bodies are stored base64-encoded so every byte is exact. Run: sh make_vectors.sh > vectors.json
set -eu
SECRET_B64='c2hvcC1kZW1vLWtleS0zMi1ieXRlcy1sb25nLWF0LWxlYXN0IQ=='   # "shop-demo-key-32-bytes-long-at-least!"
WRONG_B64='d3Jvbmcta2V5LWZvci10ZXN0cy1vbmx5LTMyLWJ5dGVzIQ=='         # "wrong-key-for-tests-only-32-bytes!"
NOW=1700000000
ID=msg_5f1b0a3c2d4e6f708192a3b4c5d6e7f8
BODY='{"notifyType":"PAYMENT_RESULT","result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},"paymentRequestId":"pay_o20231114abcdef012345","paymentId":"202311141940108001001881234567890","paymentAmount":{"currency":"USD","value":"1000"},"paymentCreateTime":"2023-11-14T22:13:20Z","paymentTime":"2023-11-14T22:13:30Z"}'
BODY_UTF8=$(printf '{"notifyType":"REFUND_RESULT","note":"caf\303\251 \342\202\254 \360\237\215\265","refundStatus":"SUCCESS"}')

hexkey() { printf '%s' "$1" | openssl base64 -d -A | od -An -v -tx1 | tr -d ' \n'; }
sig() { # secret_b64 id ts body
  printf '%s.%s.%s' "$2" "$3" "$4" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(hexkey "$1")" -binary | openssl base64 -A
}
b64() { printf '%s' "$1" | openssl base64 -A; }

GOOD=$(sig "$SECRET_B64" "$ID" "$NOW" "$BODY")
OLD=$((NOW - 301)); NEW=$((NOW + 301)); EDGE=$((NOW - 300))
TAMPERED=$(printf '%s' "$BODY" | sed 's/"1000"/"1"/')

case_json() { # name secret id ts sig body_b64 want_status
  printf '  {"name":"%s","secret":"%s","id":"%s","timestamp":"%s","signature":"%s","body_b64":"%s","now":%s,"want":%s}' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$NOW" "$7"
}

echo '{"generated_by":"make_vectors.sh (openssl dgst -sha256 -mac HMAC); an empty id/timestamp/signature means the header is absent; want 200 = valid","cases":['
case_json valid "whsec_$SECRET_B64" "$ID" "$NOW" "v1,$GOOD" "$(b64 "$BODY")" 200; echo ,
case_json secret_without_prefix "$SECRET_B64" "$ID" "$NOW" "v1,$GOOD" "$(b64 "$BODY")" 200; echo ,
case_json tampered_body "whsec_$SECRET_B64" "$ID" "$NOW" "v1,$GOOD" "$(b64 "$TAMPERED")" 401; echo ,
case_json tampered_id "whsec_$SECRET_B64" "${ID}x" "$NOW" "v1,$GOOD" "$(b64 "$BODY")" 401; echo ,
case_json wrong_secret "whsec_$WRONG_B64" "$ID" "$NOW" "v1,$GOOD" "$(b64 "$BODY")" 401; echo ,
case_json stale_timestamp "whsec_$SECRET_B64" "$ID" "$OLD" "v1,$(sig "$SECRET_B64" "$ID" "$OLD" "$BODY")" "$(b64 "$BODY")" 400; echo ,
case_json future_timestamp "whsec_$SECRET_B64" "$ID" "$NEW" "v1,$(sig "$SECRET_B64" "$ID" "$NEW" "$BODY")" "$(b64 "$BODY")" 400; echo ,
case_json timestamp_at_tolerance_edge "whsec_$SECRET_B64" "$ID" "$EDGE" "v1,$(sig "$SECRET_B64" "$ID" "$EDGE" "$BODY")" "$(b64 "$BODY")" 200; echo ,
case_json multiple_one_valid "whsec_$SECRET_B64" "$ID" "$NOW" "v1,$(sig "$WRONG_B64" "$ID" "$NOW" "$BODY") v1a,c29tZXRoaW5nIGVsc2U= v1,$GOOD" "$(b64 "$BODY")" 200; echo ,
case_json multiple_none_valid "whsec_$SECRET_B64" "$ID" "$NOW" "v1,$(sig "$WRONG_B64" "$ID" "$NOW" "$BODY") v1,AAAA" "$(b64 "$BODY")" 401; echo ,
case_json wrong_version_prefix "whsec_$SECRET_B64" "$ID" "$NOW" "v2,$GOOD" "$(b64 "$BODY")" 401; echo ,
case_json missing_id "whsec_$SECRET_B64" "" "$NOW" "v1,$GOOD" "$(b64 "$BODY")" 400; echo ,
case_json missing_timestamp "whsec_$SECRET_B64" "$ID" "" "v1,$GOOD" "$(b64 "$BODY")" 400; echo ,
case_json missing_signature "whsec_$SECRET_B64" "$ID" "$NOW" "" "$(b64 "$BODY")" 400; echo ,
case_json malformed_timestamp "whsec_$SECRET_B64" "$ID" "17e8" "v1,$(sig "$SECRET_B64" "$ID" "17e8" "$BODY")" "$(b64 "$BODY")" 400; echo ,
case_json non_ascii_body "whsec_$SECRET_B64" "$ID" "$NOW" "v1,$(sig "$SECRET_B64" "$ID" "$NOW" "$BODY_UTF8")" "$(b64 "$BODY_UTF8")" 200; echo ,
# The example from the Standard Webhooks specification's reference libraries (now = its timestamp).
printf '  {"name":"standard_webhooks_spec_example","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","id":"msg_p5jXN8AQM9LWM0D4loKWxJek","timestamp":"1614265330","signature":"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=","body_b64":"%s","now":1614265330,"want":200}\n' "$(b64 '{"test": 2432232314}')"
echo ']}'
