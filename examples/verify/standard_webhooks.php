<?php
/*
 * Verify an event that Caddy (antom_webhook) forwarded to your shop, using the
 * Standard Webhooks scheme (https://www.standardwebhooks.com). PHP 7.0+, no dependencies.
 *
 *   require __DIR__ . '/standard_webhooks.php';
 *   $body = file_get_contents('php://input');              // the raw bytes, never re-encoded JSON
 *   $v = antom_verify_event(getenv('ANTOM_FORWARD_SECRET'), antom_request_headers(), $body);
 *   if (!$v['ok']) { http_response_code($v['status']); echo $v['reason']; exit; }
 *   $event = json_decode($body, true);                     // now trusted; $v['id'] is the webhook-id
 *
 * $secret is one secret, or an array of secrets while you rotate (the event is authentic if it
 * is signed with any of them): array(getenv('ANTOM_FORWARD_SECRET_NEW'), getenv('ANTOM_FORWARD_SECRET')).
 *
 * Returns ['ok' => true, 'id' => webhook-id, 'timestamp' => int]
 *      or ['ok' => false, 'status' => 400|401|500, 'reason' => why].
 * Status to answer: 401 bad signature, 400 missing/malformed headers or a timestamp outside the
 * tolerance (default 5 minutes), 500 when the secret itself is unusable (a configuration error).
 */

function antom_verify_event($secret, array $headers, $body, $tolerance = 300, $now = null)
{
    // Accept getallheaders() (any case) as well as $_SERVER (HTTP_WEBHOOK_ID).
    $h = array();
    foreach ($headers as $name => $value) {
        $name = strtolower(str_replace('_', '-', (string)$name));
        if (strpos($name, 'http-') === 0) {
            $name = substr($name, 5);
        }
        $h[$name] = is_array($value) ? implode(' ', $value) : (string)$value;
    }
    $fail = function ($status, $reason) {
        return array('ok' => false, 'status' => $status, 'reason' => $reason);
    };

    $keys = array();
    foreach (is_array($secret) ? $secret : array($secret) as $one) {
        $one = (string)$one;
        if (strpos($one, 'whsec_') === 0) {
            $one = substr($one, 6);
        }
        $key = base64_decode($one, true);
        if ($key === false || $key === '') {
            return $fail(500, 'secret is empty or not base64 (expected whsec_<base64>)');
        }
        $keys[] = $key;
    }
    if (!$keys) {
        return $fail(500, 'no secret given');
    }
    foreach (array('webhook-id', 'webhook-timestamp', 'webhook-signature') as $need) {
        if (!isset($h[$need]) || trim($h[$need]) === '') {
            return $fail(400, "missing header $need");
        }
    }
    $id = $h['webhook-id'];
    $ts = trim($h['webhook-timestamp']);
    if (!preg_match('/^[0-9]{1,12}$/', $ts)) {
        return $fail(400, 'webhook-timestamp is not unix seconds');
    }

    $valid = false;
    foreach ($keys as $key) {
        $expected = base64_encode(hash_hmac('sha256', $id . '.' . $ts . '.' . $body, $key, true));
        foreach (preg_split('/\s+/', trim($h['webhook-signature'])) as $candidate) {
            $parts = explode(',', $candidate, 2);
            if (count($parts) === 2 && $parts[0] === 'v1' && hash_equals($expected, $parts[1])) {
                $valid = true;
                break 2;
            }
        }
    }
    if (!$valid) {
        return $fail(401, 'no valid v1 signature (wrong secret, or body/id/timestamp changed)');
    }

    // Checked after the signature, so a 400 here means "authentic but outside the window".
    $now = ($now === null) ? time() : (int)$now;
    if ((int)$ts < $now - $tolerance) {
        return $fail(400, 'timestamp too old');
    }
    if ((int)$ts > $now + $tolerance) {
        return $fail(400, 'timestamp too new (check the clocks)');
    }
    return array('ok' => true, 'id' => $id, 'timestamp' => (int)$ts);
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
