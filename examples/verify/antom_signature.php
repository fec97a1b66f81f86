<?php
/*
 * Verify a notification in Antom's own format: what Antom sends to your notify URL, or what
 * Caddy (antom_webhook with `forward_format antom`) forwards to your app. PHP 7.0+ with the
 * openssl extension (built into Debian's php-cli and most PHP builds).
 *
 *   require __DIR__ . '/antom_signature.php';
 *   $body = file_get_contents('php://input');               // the raw bytes, never re-encoded JSON
 *   $v = antom_verify_signature(getenv('ANTOM_PUBLIC_KEY'), $_SERVER['REQUEST_URI'],
 *                               antom_request_headers(), $body);
 *   if (!$v['ok']) { http_response_code($v['status']); exit($v['reason']); } // it is sent again later
 *   $n = json_decode($body, true);                          // trusted: process it once, then
 *   header('Content-Type: application/json');               // answer Antom's ack, or it is sent again
 *   echo '{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}';
 *
 * $publicKey: the public key that signs these notifications, one-line base64 as the Antom
 * dashboard shows it or PEM ("BEGIN PUBLIC KEY"). Behind Caddy that is Antom's public key when
 * Caddy passes Antom's signature through, or the public half of `forward_key` when Caddy signs.
 * While keys rotate, give an array keyVersion => key: array('1' => $old, '2' => $new).
 * $path: the path (and query, if any) the sender posted to; $_SERVER['REQUEST_URI'] is that,
 * unless a proxy in front of PHP rewrites the URL.
 * request-time is not checked for freshness: Antom and Caddy resend a notification for hours.
 * Deduplicate on the notification's ids instead.
 *
 * Returns ['ok' => true, 'keyVersion' => v]
 *      or ['ok' => false, 'status' => 400|401|500, 'reason' => why]:
 * 401 bad signature or unknown key version, 400 missing/malformed headers, 500 unusable key.
 */

function antom_verify_signature($publicKey, $path, array $headers, $body)
{
    $h = array();   // getallheaders() (any case) or $_SERVER (HTTP_CLIENT_ID)
    foreach ($headers as $name => $value) {
        $name = strtolower(str_replace('_', '-', (string)$name));
        $h[strpos($name, 'http-') === 0 ? substr($name, 5) : $name] = trim(is_array($value) ? implode(',', $value) : (string)$value);
    }
    $fail = function ($status, $reason) {
        return array('ok' => false, 'status' => $status, 'reason' => $reason);
    };
    foreach (array('client-id', 'request-time', 'signature') as $need) {
        if (!isset($h[$need]) || $h[$need] === '') {
            return $fail(400, "missing header $need");
        }
    }

    // algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>; spaces after commas allowed.
    $params = array();
    foreach (explode(',', $h['signature']) as $part) {
        $kv = explode('=', trim($part), 2);
        if (count($kv) === 2) {
            $params[strtolower(trim($kv[0]))] = trim($kv[1]);
        }
    }
    if (isset($params['algorithm']) && strtoupper($params['algorithm']) !== 'RSA256') {
        return $fail(400, 'signature algorithm is not RSA256');
    }
    $version = isset($params['keyversion']) && $params['keyversion'] !== '' ? $params['keyversion'] : '1';
    // Percent-decoding only (rawurldecode keeps a raw '+'); a space is a '+' a proxy form-decoded.
    $sig = isset($params['signature']) ? base64_decode(str_replace(' ', '+', rawurldecode($params['signature'])), true) : false;
    if ($sig === false || $sig === '') {
        return $fail(400, 'signature header has no base64 signature= value');
    }

    if (is_array($publicKey)) {
        if (!isset($publicKey[$version])) {
            return $fail(401, "no public key configured for keyVersion $version");
        }
        $publicKey = $publicKey[$version];
    }
    $pem = trim((string)$publicKey);
    if (strpos($pem, '-----BEGIN') !== 0) {
        $pem = "-----BEGIN PUBLIC KEY-----\n" . chunk_split(preg_replace('/\s+/', '', $pem), 64, "\n") . "-----END PUBLIC KEY-----\n";
    }
    $key = openssl_pkey_get_public($pem);
    if ($key === false) {
        return $fail(500, 'the configured public key is not an RSA public key (base64 or PEM)');
    }

    $content = 'POST ' . $path . "\n" . $h['client-id'] . '.' . $h['request-time'] . '.' . $body;
    if (openssl_verify($content, $sig, $key, OPENSSL_ALGO_SHA256) !== 1) {
        return $fail(401, "bad signature for keyVersion $version (wrong public key, or path/client-id/request-time/body changed)");
    }
    return array('ok' => true, 'keyVersion' => $version);
}

if (!function_exists('antom_request_headers')) {
    /** The request headers of the current request, whatever the SAPI (Apache, FPM, php -S). */
    function antom_request_headers()
    {
        if (function_exists('getallheaders') && is_array($all = getallheaders())) {
            return $all;
        }
        $h = array();
        foreach ($_SERVER as $k => $v) {
            if (strpos($k, 'HTTP_') === 0) {
                $h[$k] = $v;
            }
        }
        return $h;
    }
}
