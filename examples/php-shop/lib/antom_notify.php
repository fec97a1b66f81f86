<?php
/*
 * The shop's notify handler as shops write it against Antom itself, before any Caddy: verify
 * Antom's RSA signature with openssl_verify over Antom's signed content, then answer Antom's ack.
 * Caddy's antom_webhook with `forward_format antom` delivers to it unchanged (see the demo's
 * second site in examples/Caddyfile): with Antom's own signature passed through, ANTOM_PUBLIC_KEY
 * is Antom's public key as always; with `forward_key`, it is that key's public half.
 *
 * Antom signs  "POST <path>\n<client-id>.<request-time>.<body>"  (RSA-SHA256, base64, URL-encoded
 * in the signature header: algorithm=RSA256,keyVersion=1,signature=...).
 */

/** The Antom answer for $status S (taken) or F (not taken: Antom, or Caddy, sends it again). */
function antom_notify_answer($status, $code, $message)
{
    return array('result' => array('resultCode' => $code, 'resultStatus' => $status, 'resultMessage' => $message));
}

/** Verifies a notification: true, or why not. $publicKey: one-line base64 SPKI or PEM. */
function antom_notify_verify($publicKey, $path, array $headers, $body)
{
    $h = array_change_key_case($headers, CASE_LOWER);
    $clientId = isset($h['client-id']) ? $h['client-id'] : '';
    $requestTime = isset($h['request-time']) ? $h['request-time'] : '';
    $signature = isset($h['signature']) ? $h['signature'] : '';
    if ($clientId === '' || $requestTime === '' || !preg_match('/(?:^|,)\s*signature=([^,]+)/', $signature, $m)) {
        return 'missing client-id, request-time or signature';
    }
    $sig = base64_decode(rawurldecode($m[1]), true); // percent-decode only: a raw + stays a +
    if ($sig === false) {
        return 'signature is not base64';
    }
    $pem = (strpos($publicKey, '-----BEGIN') === false)
        ? "-----BEGIN PUBLIC KEY-----\n" . chunk_split(trim($publicKey), 64, "\n") . "-----END PUBLIC KEY-----\n"
        : $publicKey;
    $key = openssl_pkey_get_public($pem);
    if ($key === false) {
        return 'ANTOM_PUBLIC_KEY is not a public key';
    }
    $content = "POST $path\n$clientId.$requestTime.$body";
    return openssl_verify($content, $sig, $key, OPENSSL_ALGO_SHA256) === 1 ? true : 'signature does not verify';
}

/**
 * The /antom/notify.php endpoint. $path is the request URI the handler was called with (Antom
 * signs the path it posts to). Returns [http status, Antom answer].
 */
function shop_handle_antom_notify($path, array $headers, $body)
{
    $publicKey = getenv('ANTOM_PUBLIC_KEY');
    if ($publicKey === false || $publicKey === '') {
        shop_log('notification refused: ANTOM_PUBLIC_KEY is not set');
        return array(500, antom_notify_answer('F', 'CONFIGURATION_ERROR', 'ANTOM_PUBLIC_KEY is not set'));
    }
    $ok = antom_notify_verify($publicKey, $path, $headers, $body);
    if ($ok !== true) {
        shop_log("notification refused: $ok");
        return array(200, antom_notify_answer('F', 'SIGNATURE_INVALID', $ok));
    }
    $event = json_decode($body, true);
    if (!is_array($event)) {
        return array(200, antom_notify_answer('F', 'PARAM_ILLEGAL', 'body is not a JSON object'));
    }
    // Antom sends a notification again until it is acknowledged: applying it twice is harmless.
    list($status, $answer) = shop_locked(function () use ($event) {
        return shop_apply_event($event, 'notification');
    });
    shop_log('antom notification ' . (isset($event['notifyType']) ? $event['notifyType'] : '?') . " -> $status " . json_encode($answer));
    if ($status < 200 || $status > 299) {
        return array(200, antom_notify_answer('F', 'PROCESS_FAIL', isset($answer['status']) ? $answer['status'] : 'not processed'));
    }
    return array(200, antom_notify_answer('S', 'SUCCESS', 'success'));
}
