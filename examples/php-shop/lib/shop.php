<?php
/*
 * The shop's model: catalogue, orders on disk, calls to Caddy's antom_api, and the
 * verified events. No framework; every function is small enough to copy.
 *
 * Order states: pending -> paid -> refunded, pending -> failed, pending -> cancelled, and for
 * card payments captured by hand pending -> authorized -> paid.
 * Only a verified PAYMENT_RESULT makes an order paid (failed/cancelled -> paid is allowed too:
 * the money was taken, so the order must show it), or authorized, whose verified CAPTURE_RESULT
 * then makes it paid. Nothing ever leaves paid except a refund.
 *
 * Payment methods: 'wallet' (Antom's cashier), 'easysafepay' (the cashier, and the buyer links the
 * wallet: Antom's TOKEN_CREATED notification gives the shop an access token), 'linked' (a payment
 * with that token, without the buyer), 'card' (Antom's hosted card form: the shop never
 * sees a card), 'direct' (server-to-server card: the card goes through this shop, which needs
 * PCI DSS scope for that; it is never stored or logged) and 'entrycode' (in store: the buyer
 * scanned the store's entry code and typed the amount).
 */

require_once __DIR__ . '/../../verify/standard_webhooks.php';

const SHOP_STATES = array('pending', 'authorized', 'paid', 'failed', 'refunded', 'cancelled');
const SHOP_METHODS = array('wallet', 'easysafepay', 'linked', 'card', 'direct', 'entrycode');

/** The store whose entry code leads to /store (in-store payments). */
function shop_store()
{
    return array('referenceMerchantId' => 'TEAHOUSE', 'merchantName' => 'Teahouse', 'merchantMCC' => '5814',
        'store' => array('referenceStoreId' => 'HARBOUR-1', 'storeName' => 'Harbour Street', 'storeMcc' => '5814'));
}

function shop_catalogue()
{
    return array(
        'tea'  => array('title' => 'Oolong tea, 100 g', 'amount' => array('currency' => 'USD', 'value' => '1250')),
        'mug'  => array('title' => 'Stoneware mug',     'amount' => array('currency' => 'USD', 'value' => '1800')),
        'book' => array('title' => 'Dot-grid notebook', 'amount' => array('currency' => 'USD', 'value' => '650')),
    );
}

function shop_now()
{
    return gmdate('Y-m-d\TH:i:s\Z');
}

function shop_log($msg)
{
    // Ids, types and states only: never bodies, secrets or card data.
    error_log('[php-shop] ' . $msg);
}

// ---------------------------------------------------------------- storage

function shop_data_dir()
{
    $dir = getenv('SHOP_DATA_DIR');
    if ($dir === false || $dir === '') {
        $dir = sys_get_temp_dir() . '/antom-shop';
    }
    foreach (array($dir, "$dir/orders", "$dir/events") as $d) {
        if (!is_dir($d) && !@mkdir($d, 0700, true) && !is_dir($d)) {
            throw new RuntimeException("cannot create data dir $d");
        }
    }
    return $dir;
}

/** Runs $fn while holding the shop's one exclusive lock (flock), so read-modify-write is safe. */
function shop_locked(callable $fn)
{
    $fh = fopen(shop_data_dir() . '/.lock', 'c');
    if ($fh === false || !flock($fh, LOCK_EX)) {
        throw new RuntimeException('cannot lock the data dir');
    }
    try {
        return $fn();
    } finally {
        flock($fh, LOCK_UN);
        fclose($fh);
    }
}

function shop_write_file($path, $content)
{
    $tmp = $path . '.tmp' . getmypid();
    if (file_put_contents($tmp, $content) === false || !rename($tmp, $path)) {
        @unlink($tmp);
        throw new RuntimeException("cannot write $path");
    }
}

function shop_valid_order_id($id)
{
    return is_string($id) && preg_match('/^o[0-9]{8}[0-9a-f]{12}$/', $id) === 1;
}

function shop_load_order($id)
{
    if (!shop_valid_order_id($id)) {
        return null;
    }
    $raw = @file_get_contents(shop_data_dir() . "/orders/$id.json");
    $order = ($raw === false) ? null : json_decode($raw, true);
    return is_array($order) ? $order : null;
}

/** Call inside shop_locked(). */
function shop_save_order(array $order, $what = null)
{
    $order['updatedAt'] = shop_now();
    if ($what !== null) {
        $order['history'][] = array('at' => $order['updatedAt'], 'what' => $what);
    }
    shop_write_file(shop_data_dir() . "/orders/{$order['id']}.json",
        json_encode($order, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    return $order;
}

/** Applies $fn(order) => [order, what] under the lock; returns the stored order. */
function shop_update_order($id, callable $fn)
{
    return shop_locked(function () use ($id, $fn) {
        $order = shop_load_order($id);
        if ($order === null) {
            return null;
        }
        list($changed, $what) = $fn($order);
        return ($changed === null) ? $order : shop_save_order($changed, $what);
    });
}

function shop_all_orders()
{
    $orders = array();
    foreach (glob(shop_data_dir() . '/orders/*.json') ?: array() as $file) {
        $o = shop_load_order(basename($file, '.json'));
        if ($o !== null) {
            $orders[] = $o;
        }
    }
    usort($orders, function ($a, $b) {
        return strcmp($b['createdAt'] . $b['id'], $a['createdAt'] . $a['id']);
    });
    return $orders;
}

/**
 * A new pending order for a catalogue item, or for $item (title, amount) bought in store.
 * $notifyUrl: where Antom notifies its payment ('': antom_api's notify_url).
 */
function shop_create_order($sku, $method = 'wallet', $item = null, $notifyUrl = '')
{
    $item = ($item === null) ? shop_catalogue()[$sku] : $item;
    $id = 'o' . gmdate('Ymd') . bin2hex(random_bytes(6));
    $order = array(
        'id' => $id,
        'sku' => $sku,
        'title' => $item['title'],
        'amount' => $item['amount'],
        'method' => $method,
        'captureMode' => 'AUTOMATIC', // card payments: MANUAL once the buyer asks to authorise only
        'state' => 'pending',
        'createdAt' => shop_now(),
        // One paymentRequestId per order: a retry after U reuses it, so Antom deduplicates.
        'paymentRequestId' => 'pay_' . $id,
        'normalUrl' => null,
        'paymentId' => null,
        'notifyUrl' => $notifyUrl,
        'failure' => null,
        'refund' => array('attempt' => 0, 'requestId' => null, 'status' => 'none', 'refundId' => null, 'message' => null),
        'history' => array(),
    );
    return shop_locked(function () use ($order) {
        return shop_save_order($order, 'created');
    });
}

/**
 * The wallet the buyer linked with EasySafePay ([accessToken, order, linkedAt]) or null. The demo
 * shop has no buyer accounts: one linked wallet. The token is a payment credential: it stays
 * in the data dir (mode 0600) and out of logs and pages.
 */
function shop_linked_wallet()
{
    $raw = @file_get_contents(shop_data_dir() . '/wallet.json');
    $w = ($raw === false) ? null : json_decode($raw, true);
    return (is_array($w) && !empty($w['accessToken'])) ? $w : null;
}

// ---------------------------------------------------------------- calls through Caddy

/**
 * POSTs plain JSON to <ANTOM_API>/antom/v1/payments/<api>. Caddy signs it, calls Antom and
 * returns Antom's verified answer. Returns ['status' => S|F|U, 'code', 'message', 'http', 'body'].
 * Anything we cannot read as a clear S or F is U: the call may have happened, so retry with the
 * same request id (or let the notification / Caddy's reconciliation tell the outcome).
 */
function antom_api_call($api, array $request)
{
    $base = rtrim(getenv('ANTOM_API') ?: 'http://127.0.0.1:8700', '/');
    $ctx = stream_context_create(array('http' => array(
        'method' => 'POST',
        'header' => "Content-Type: application/json; charset=UTF-8\r\nAccept: application/json\r\n",
        'content' => json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE),
        'timeout' => 40,
        'ignore_errors' => true, // give us the body of non-2xx answers too
    )));
    $raw = @file_get_contents("$base/antom/v1/payments/$api", false, $ctx);
    $headers = function_exists('http_get_last_response_headers')
        ? (http_get_last_response_headers() ?: array())
        : (isset($http_response_header) ? $http_response_header : array());
    $http = (isset($headers[0]) && preg_match('#^HTTP/\S+\s+(\d{3})#', $headers[0], $m)) ? (int)$m[1] : 0;

    $body = ($raw === false) ? null : json_decode($raw, true);
    $res = (is_array($body) && isset($body['result']) && is_array($body['result'])) ? $body['result'] : array();
    $status = isset($res['resultStatus']) ? $res['resultStatus'] : '';
    $out = array(
        'status' => $status,
        'code' => isset($res['resultCode']) ? (string)$res['resultCode'] : '',
        'message' => isset($res['resultMessage']) ? (string)$res['resultMessage'] : '',
        'http' => $http,
        'body' => is_array($body) ? $body : null,
    );
    if ($raw === false) {
        $out = array_merge($out, array('status' => 'U', 'code' => 'NO_ANSWER', 'message' => 'no answer from ANTOM_API'));
    } elseif (!in_array($status, array('S', 'F', 'U'), true) || ($status === 'S' && ($http < 200 || $http > 299))) {
        $out = array_merge($out, array('status' => 'U', 'code' => $out['code'] ?: 'UNREADABLE_ANSWER',
            'message' => $out['message'] ?: "unreadable answer (HTTP $http)"));
    }
    shop_log("antom $api -> {$out['status']} {$out['code']} http=$http");
    return $out;
}

function shop_public_url()
{
    $url = getenv('SHOP_PUBLIC_URL');
    if ($url) {
        return rtrim($url, '/');
    }
    $https = !empty($_SERVER['HTTPS']) && $_SERVER['HTTPS'] !== 'off';
    $host = isset($_SERVER['HTTP_HOST']) ? $_SERVER['HTTP_HOST'] : '127.0.0.1';
    return ($https ? 'https://' : 'http://') . $host;
}

/** The request that starts the order's payment: [api, body]. $card only for 'direct'. */
function shop_payment_request(array $order, array $card = null, $threeDS = false)
{
    $body = array(
        'productCode' => 'CASHIER_PAYMENT',
        'paymentRequestId' => $order['paymentRequestId'],
        'order' => array(
            'referenceOrderId' => $order['id'],
            'orderDescription' => $order['title'],
            'orderAmount' => $order['amount'],
        ),
        'paymentAmount' => $order['amount'],
        'paymentRedirectUrl' => shop_public_url() . '/result?order=' . rawurlencode($order['id']),
        'settlementStrategy' => array('settlementCurrency' => $order['amount']['currency']),
        'env' => array('terminalType' => 'WEB'),
    );
    if (!empty($order['notifyUrl'])) {
        $body['paymentNotifyUrl'] = $order['notifyUrl'];
    }
    $method = isset($order['method']) ? $order['method'] : 'wallet';
    if ($method === 'wallet') {
        return array('createPaymentSession', $body);
    }
    if ($method === 'easysafepay') { // the first payment links the wallet: authState names the order
        $body['productCode'] = 'AGREEMENT_PAYMENT';
        $body['productScene'] = 'EASY_PAY';
        $body['paymentMethod'] = array('paymentMethodType' => 'ALIPAY_CN');
        $body['agreementInfo'] = array('authState' => 'link_' . $order['id']);
        return array('createPaymentSession', $body);
    }
    if ($method === 'linked') {
        $wallet = shop_linked_wallet();
        $body['productCode'] = 'AGREEMENT_PAYMENT';
        $body['paymentMethod'] = array('paymentMethodType' => 'ALIPAY_CN',
            'paymentMethodId' => $wallet === null ? '' : $wallet['accessToken']);
        unset($body['paymentRedirectUrl']);
        return array('pay', $body);
    }
    if ($method === 'entrycode') {
        $body['productCode'] = 'IN_STORE_PAYMENT';
        $body['paymentFactor'] = array('inStorePaymentScenario' => 'EntryCode');
        $body['paymentMethod'] = array('paymentMethodType' => 'CONNECT_WALLET');
        $body['order']['merchant'] = shop_store();
        return array('pay', $body);
    }
    $body['paymentMethod'] = array('paymentMethodType' => 'CARD');
    $body['paymentFactor'] = array('isAuthorization' => true, 'captureMode' => $order['captureMode']);
    if ($card !== null) { // server to server: the card goes to Antom, nowhere else
        $body['paymentMethod']['paymentMethodMetaData'] = array_merge($card, array('is3DSAuthentication' => $threeDS));
    }
    return array('pay', $body);
}

/**
 * Starts the order's payment (same paymentRequestId on every try): createPaymentSession for the
 * wallet cashier, pay for cards and entry codes. $card (server-to-server card payments only)
 * is passed through to Antom and forgotten.
 * Returns ['ok' => true, 'url' => where the buyer goes next] or
 * ['ok' => false, 'kind' => F|U|BAD, 'order' => ...].
 */
function shop_start_payment(array $order, array $card = null, $threeDS = false)
{
    list($api, $request) = shop_payment_request($order, $card, $threeDS);
    $r = antom_api_call($api, $request);
    $resultPage = shop_public_url() . '/result?order=' . rawurlencode($order['id']);
    if ($r['status'] === 'S' && $api === 'pay') {
        // Authorised at once (server to server without 3-D Secure): the order still waits for
        // the verified PAYMENT_RESULT.
        return array('ok' => true, 'url' => $resultPage);
    }
    $inProcess = ($r['status'] === 'U' && $r['code'] === 'PAYMENT_IN_PROCESS' && $api === 'pay');
    if ($r['status'] === 'S' || $inProcess) {
        $url = isset($r['body']['normalUrl']) ? (string)$r['body']['normalUrl'] : '';
        if (!preg_match('#^https?://#i', $url)) {
            return array('ok' => false, 'kind' => 'BAD', 'order' => $order,
                'message' => 'Antom accepted the payment but sent no page for the buyer (normalUrl).');
        }
        $expiry = isset($r['body']['paymentSessionExpiryTime']) ? (string)$r['body']['paymentSessionExpiryTime'] : null;
        shop_update_order($order['id'], function ($o) use ($url, $expiry, $api) {
            $o['normalUrl'] = $url;
            $o['sessionExpiry'] = $expiry;
            return array($o, $api === 'pay' ? 'payment waits for the buyer' : 'payment session created');
        });
        return array('ok' => true, 'url' => $url);
    }
    if ($r['status'] === 'F') {
        // Final: this paymentRequestId will never be paid. The buyer can place a new order.
        $order = shop_update_order($order['id'], function ($o) use ($r) {
            if ($o['state'] !== 'pending') {
                return array(null, null);
            }
            $o['state'] = 'failed';
            $o['failure'] = array('code' => $r['code'], 'message' => $r['message']);
            return array($o, "payment session refused: {$r['code']}");
        });
        return array('ok' => false, 'kind' => 'F', 'order' => $order, 'message' => $r['message'], 'code' => $r['code']);
    }
    return array('ok' => false, 'kind' => 'U', 'order' => $order, 'message' => $r['message'], 'code' => $r['code']);
}

/** Refund the whole order. A stable refundRequestId per attempt makes double clicks harmless. */
function shop_refund($id)
{
    $order = shop_update_order($id, function ($o) {
        if ($o['state'] !== 'paid' || in_array($o['refund']['status'], array('processing', 'succeeded'), true)) {
            return array(null, null);
        }
        if ($o['refund']['status'] === 'requested') {
            return array(null, null); // an earlier click is in flight or ended in U: same request id
        }
        // none, or the previous attempt failed for good (F): a new attempt gets a new id.
        $o['refund']['attempt']++;
        $o['refund']['requestId'] = "ref_{$o['id']}_{$o['refund']['attempt']}";
        $o['refund']['status'] = 'requested';
        $o['refund']['message'] = null;
        return array($o, "refund requested ({$o['refund']['requestId']})");
    });
    if ($order === null) {
        return array('status' => 'F', 'code' => 'ORDER_NOT_FOUND');
    }
    if ($order['state'] !== 'paid' || $order['refund']['status'] !== 'requested') {
        return array('status' => 'NOOP', 'code' => '');
    }
    $requestId = $order['refund']['requestId'];
    $r = antom_api_call('refund', array(
        'refundRequestId' => $requestId,
        'paymentId' => $order['paymentId'],
        'refundAmount' => $order['amount'],
    ));
    shop_update_order($id, function ($o) use ($r, $requestId) {
        if ($o['refund']['requestId'] !== $requestId || $o['refund']['status'] !== 'requested') {
            return array(null, null); // the REFUND_RESULT notification got here first
        }
        if ($r['status'] === 'S') {
            // Accepted. The order becomes refunded when the verified REFUND_RESULT arrives.
            $o['refund']['status'] = 'processing';
            $o['refund']['refundId'] = isset($r['body']['refundId']) ? (string)$r['body']['refundId'] : null;
            return array($o, 'refund accepted by Antom');
        }
        if ($r['status'] === 'F') {
            $o['refund']['status'] = 'failed';
            $o['refund']['message'] = trim("{$r['code']} {$r['message']}");
            return array($o, "refund refused: {$r['code']}");
        }
        $o['refund']['message'] = 'We could not confirm the refund; try again.';
        return array($o, 'refund outcome unknown');
    });
    return $r;
}

/** Capture an authorized card order whole. One captureRequestId per order: retries are safe. */
function shop_capture($id)
{
    $order = shop_load_order($id);
    if ($order === null || $order['state'] !== 'authorized') {
        return array('status' => 'NOOP', 'code' => '');
    }
    $r = antom_api_call('capture', array(
        'captureRequestId' => 'cap_' . $order['id'],
        'paymentId' => $order['paymentId'],
        'captureAmount' => $order['amount'],
    ));
    shop_update_order($id, function ($o) use ($r) {
        // S means accepted: the order turns paid when the verified CAPTURE_RESULT arrives.
        return array($o, $r['status'] === 'S' ? 'capture accepted by Antom' : "capture not done: {$r['status']} {$r['code']}");
    });
    return $r;
}

/** Cancel a pending order at Antom (so it can no longer be paid), then locally. */
function shop_cancel($id)
{
    $order = shop_load_order($id);
    if ($order === null || $order['state'] !== 'pending') {
        return array('status' => 'NOOP', 'code' => '');
    }
    $r = antom_api_call('cancel', array('paymentRequestId' => $order['paymentRequestId']));
    // ORDER_NOT_EXIST: Antom never saw this payment, so nothing can be paid: cancel locally.
    if ($r['status'] === 'S' || ($r['status'] === 'F' && $r['code'] === 'ORDER_NOT_EXIST')) {
        shop_update_order($id, function ($o) {
            if ($o['state'] !== 'pending') {
                return array(null, null);
            }
            $o['state'] = 'cancelled';
            return array($o, 'cancelled');
        });
    }
    return $r;
}

// ---------------------------------------------------------------- events from Caddy

/**
 * The /antom-events endpoint: verify, then apply once. Returns [http status, response array].
 */
function shop_handle_event(array $headers, $body)
{
    $secret = getenv('ANTOM_FORWARD_SECRET');
    if ($secret === false || $secret === '') {
        shop_log('event refused: ANTOM_FORWARD_SECRET is not set');
        return array(500, array('error' => 'ANTOM_FORWARD_SECRET is not set'));
    }
    $v = antom_verify_event($secret, $headers, $body);
    if (!$v['ok']) {
        shop_log("event refused ({$v['status']}): {$v['reason']}");
        return array($v['status'], array('error' => $v['reason']));
    }
    $event = json_decode($body, true);
    if (!is_array($event)) {
        return array(400, array('error' => 'body is not a JSON object'));
    }
    $h = array_change_key_case($headers, CASE_LOWER);
    $source = isset($h['antom-event-source']) ? (string)$h['antom-event-source'] : 'notification';
    $msgId = $v['id'];

    return shop_locked(function () use ($event, $source, $msgId) {
        $seen = shop_data_dir() . '/events/' . hash('sha256', $msgId) . '.json';
        if (is_file($seen)) {
            return array(200, array('status' => 'duplicate'));
        }
        list($status, $answer) = shop_apply_event($event, $source);
        if ($status >= 200 && $status < 300) {
            shop_write_file($seen, json_encode(array('webhookId' => $msgId, 'at' => shop_now(), 'outcome' => $answer)));
        }
        shop_log("event $msgId " . (isset($event['notifyType']) ? $event['notifyType'] : '?') . " ($source) -> $status " . json_encode($answer));
        return array($status, $answer);
    });
}

/** Call inside shop_locked(). Every branch is safe to run twice and in any order. */
function shop_apply_event(array $e, $source)
{
    $type = isset($e['notifyType']) ? $e['notifyType'] : '';
    $rs = isset($e['result']['resultStatus']) ? $e['result']['resultStatus'] : '';

    if ($type === 'PAYMENT_RESULT') {
        $reqId = isset($e['paymentRequestId']) ? (string)$e['paymentRequestId'] : '';
        $order = (strpos($reqId, 'pay_') === 0) ? shop_load_order(substr($reqId, 4)) : null;
        if ($order === null || $order['paymentRequestId'] !== $reqId) {
            return array(404, array('status' => 'unknown paymentRequestId')); // Caddy keeps it, retries, then dead-letters it
        }
        $from = $order['state'];
        if ($rs === 'S') {
            if (isset($e['paymentAmount']) && $e['paymentAmount'] != $order['amount']) {
                shop_save_order($order, 'PAYMENT_RESULT S with a different amount: needs review');
                return array(200, array('status' => 'amount mismatch, not applied', 'order' => $order['id']));
            }
            if (in_array($from, array('pending', 'failed', 'cancelled'), true)) {
                // A card authorisation captured by hand is not money yet: CAPTURE_RESULT is.
                $manual = isset($order['captureMode']) && $order['captureMode'] === 'MANUAL';
                $order['state'] = $manual ? 'authorized' : 'paid';
                $order['paymentId'] = isset($e['paymentId']) ? (string)$e['paymentId'] : null;
                $order['paidAt'] = isset($e['paymentTime']) ? (string)$e['paymentTime'] : shop_now();
                $order['failure'] = null;
                if (isset($e['paymentResultInfo']['cardNo'])) { // masked by Antom
                    $order['card'] = (string)$e['paymentResultInfo']['cardNo'];
                }
                shop_save_order($order, "{$order['state']} (verified $source" . ($from !== 'pending' ? ", was $from: check it" : '') . ')');
            }
        } elseif ($rs === 'F' && $from === 'pending') {
            $order['state'] = 'failed';
            $order['failure'] = array(
                'code' => isset($e['result']['resultCode']) ? (string)$e['result']['resultCode'] : '',
                'message' => isset($e['result']['resultMessage']) ? (string)$e['result']['resultMessage'] : '',
            );
            shop_save_order($order, "failed (verified $source)");
        }
        return array(200, array('status' => 'processed', 'order' => $order['id'], 'from' => $from, 'state' => $order['state']));
    }

    if ($type === 'REFUND_RESULT') {
        $reqId = isset($e['refundRequestId']) ? (string)$e['refundRequestId'] : '';
        $order = preg_match('/^ref_(o[0-9a-f]+)_[0-9]+$/', $reqId, $m) ? shop_load_order($m[1]) : null;
        if ($order === null) {
            return array(404, array('status' => 'unknown refundRequestId'));
        }
        $from = $order['state'];
        $refundStatus = isset($e['refundStatus']) ? $e['refundStatus'] : ($rs === 'S' ? 'SUCCESS' : ($rs === 'F' ? 'FAIL' : ''));
        if ($refundStatus === 'SUCCESS' && $from !== 'refunded') {
            $order['state'] = 'refunded';
            $order['refund']['status'] = 'succeeded';
            $order['refund']['requestId'] = $reqId;
            $order['refund']['refundId'] = isset($e['refundId']) ? (string)$e['refundId'] : $order['refund']['refundId'];
            $order['refund']['message'] = null;
            shop_save_order($order, "refunded (verified $source)");
        } elseif ($refundStatus === 'FAIL' && $from === 'paid' && $order['refund']['requestId'] === $reqId) {
            $order['refund']['status'] = 'failed';
            $order['refund']['message'] = isset($e['result']['resultMessage']) ? (string)$e['result']['resultMessage'] : 'refund failed';
            shop_save_order($order, "refund failed (verified $source)");
        }
        return array(200, array('status' => 'processed', 'order' => $order['id'], 'from' => $from, 'state' => $order['state']));
    }

    $auth = isset($e['authorizationNotifyType']) ? $e['authorizationNotifyType'] : '';
    if ($auth === 'TOKEN_CREATED' && !empty($e['accessToken'])) {
        // EasySafePay: the buyer linked the wallet while paying the order named in authState.
        $orderId = preg_match('/^link_(o[0-9a-f]+)$/', isset($e['authState']) ? (string)$e['authState'] : '', $m) ? $m[1] : '';
        $file = shop_data_dir() . '/wallet.json';
        shop_write_file($file, json_encode(array('accessToken' => (string)$e['accessToken'], 'order' => $orderId, 'linkedAt' => shop_now())));
        chmod($file, 0600);
        return array(200, array('status' => 'processed', 'type' => $auth, 'order' => $orderId));
    }
    if ($auth !== '') {
        // AUTHCODE_CREATED needs applyToken, which this shop's antom_api does not allow: configure
        // Antom (or the simulator's easysafepay_notification) for TOKEN_CREATED.
        return array(200, array('status' => 'ignored', 'type' => $auth));
    }

    if ($type === 'CAPTURE_RESULT' && $rs === 'S') {
        // Ours are cap_<order>; Antom's automatic captures follow a PAYMENT_RESULT that already paid.
        $reqId = isset($e['captureRequestId']) ? (string)$e['captureRequestId'] : '';
        $order = preg_match('/^cap_(o[0-9a-f]+)$/', $reqId, $m) ? shop_load_order($m[1]) : null;
        if ($order !== null && $order['state'] === 'authorized') {
            $order['state'] = 'paid';
            shop_save_order($order, "paid: captured (verified $source)");
            return array(200, array('status' => 'processed', 'order' => $order['id'], 'from' => 'authorized', 'state' => 'paid'));
        }
        return array(200, array('status' => 'ignored', 'type' => $type));
    }

    // PAYMENT_PENDING, automatic CAPTURE_RESULT, ...: nothing to do in this shop, but received.
    return array(200, array('status' => 'ignored', 'type' => $type));
}
