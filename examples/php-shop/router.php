<?php
/*
 * Front controller for the demo shop:  php -S 127.0.0.1:8081 examples/php-shop/router.php
 * Every request ends here (it never returns false), so PHP's built-in server serves no file
 * directly: lib/ and tests/ stay private.
 */
require_once __DIR__ . '/lib/shop.php';
require_once __DIR__ . '/lib/pages.php';
require_once __DIR__ . '/lib/antom_notify.php';

set_exception_handler(function ($e) {
    shop_log('error: ' . $e->getMessage());
    page_error(500, 'Something went wrong on our side.');
});

$method = $_SERVER['REQUEST_METHOD'];
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$routes = array(
    '/' => 'GET', '/order' => 'GET', '/result' => 'GET', '/orders.json' => 'GET',
    '/checkout' => 'POST', '/pay' => 'POST', '/refund' => 'POST', '/cancel' => 'POST', '/antom-events' => 'POST',
    '/store' => 'GET', '/store/pay' => 'POST', '/card' => 'GET', '/card/pay' => 'POST', '/capture' => 'POST',
    '/antom/notify.php' => 'POST',
);
if (!isset($routes[$path])) {
    page_error(404, 'Not found.');
    return true;
}
if ($method !== $routes[$path] && !($method === 'HEAD' && $routes[$path] === 'GET')) {
    header('Allow: ' . $routes[$path]);
    page_error(405, 'Method not allowed.');
    return true;
}

function order_from($source, $key)
{
    $id = isset($source[$key]) ? $source[$key] : '';
    $o = shop_load_order($id);
    if ($o === null) {
        page_error(404, 'No such order.');
        exit;
    }
    return $o;
}

function see_order($id, $notice = '')
{
    header('Location: /order?id=' . rawurlencode($id) . ($notice !== '' ? '&notice=' . rawurlencode($notice) : ''), true, 303);
}

function go_to_cashier(array $start)
{
    if ($start['ok']) {
        header('Location: ' . $start['url'], true, 303); // the buyer pays on Antom's cashier page
    } else {
        page_payment_problem($start);
    }
}

// Fixed texts for notices carried in the URL (no user text is echoed back).
$notices = array(
    'refund-accepted' => 'Refund accepted by Antom; the order turns refunded when Antom confirms it.',
    'refund-unknown' => 'We could not confirm the refund; try again (the same refund request is reused).',
    'refund-refused' => 'Antom refused the refund (see Refund below).',
    'cancel-unknown' => 'We could not confirm the cancellation; try again.',
    'cancel-refused' => 'Antom refused the cancellation; the payment may already be done. Wait for its confirmation.',
    'capture-accepted' => 'Capture accepted by Antom; the order turns paid when Antom confirms it.',
    'capture-not-done' => 'The capture was not confirmed; try again (the same capture request is reused).',
);

/** The pending server-to-server card order named in $source, or null after sending the buyer to its page. */
function card_order_from(array $source)
{
    $o = order_from($source, 'order');
    if ($o['state'] === 'pending' && $o['method'] === 'direct') {
        return $o;
    }
    see_order($o['id']);
    return null;
}

/** The card fields of the server-to-server form, as Antom wants them; null if unusable. */
function card_from_post()
{
    $number = preg_replace('/[\s-]/', '', isset($_POST['cardNo']) ? (string)$_POST['cardNo'] : '');
    $cvv = isset($_POST['cvv']) ? trim((string)$_POST['cvv']) : '';
    $expiry = isset($_POST['expiry']) ? trim((string)$_POST['expiry']) : '';
    if (!preg_match('/^[0-9]{12,19}$/', $number) || !preg_match('/^[0-9]{3,4}$/', $cvv)
        || !preg_match('#^(0[1-9]|1[0-2])\s*/\s*([0-9]{2})$#', $expiry, $m)) {
        return null;
    }
    $name = isset($_POST['holder']) ? trim((string)$_POST['holder']) : '';
    $parts = explode(' ', $name, 2);
    return array('cardNo' => $number, 'cvv' => $cvv, 'expiryMonth' => $m[1], 'expiryYear' => $m[2],
        'cardholderName' => array('firstName' => $parts[0], 'lastName' => isset($parts[1]) ? $parts[1] : ''));
}

switch ($path) {
    case '/':
        page_catalogue(shop_all_orders());
        break;

    case '/order':
        $o = order_from($_GET, 'id');
        $n = isset($_GET['notice']) ? (string)$_GET['notice'] : '';
        page_order($o, isset($notices[$n]) ? $notices[$n] : '');
        break;

    case '/result':
        page_result(order_from($_GET, 'order')); // read-only, whatever the query string says
        break;

    case '/orders.json':
        header('Content-Type: application/json');
        header('Cache-Control: no-store');
        $list = array();
        foreach (shop_all_orders() as $o) {
            $list[] = array(
                'id' => $o['id'], 'sku' => $o['sku'], 'amount' => $o['amount'], 'state' => $o['state'],
                'paymentRequestId' => $o['paymentRequestId'], 'paymentId' => $o['paymentId'],
                'refundRequestId' => $o['refund']['requestId'], 'refundStatus' => $o['refund']['status'],
                'createdAt' => $o['createdAt'], 'updatedAt' => $o['updatedAt'],
            );
        }
        echo json_encode(array('orders' => $list), JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\n";
        break;

    case '/checkout':
        $sku = isset($_POST['sku']) ? (string)$_POST['sku'] : '';
        $method = isset($_POST['method']) ? (string)$_POST['method'] : 'wallet';
        // notify=antom: Antom notifies this order at SHOP_ANTOM_NOTIFY_URL, in Antom's own format.
        $notifyUrl = (isset($_POST['notify']) && $_POST['notify'] === 'antom') ? (string)getenv('SHOP_ANTOM_NOTIFY_URL') : '';
        if (!isset(shop_catalogue()[$sku]) || !in_array($method, array('wallet', 'easysafepay', 'linked', 'card', 'direct'), true)
            || ($method === 'linked' && shop_linked_wallet() === null) || (isset($_POST['notify']) && $notifyUrl === '')) {
            page_error(400, 'Unknown item or payment method.');
            break;
        }
        $o = shop_create_order($sku, $method, null, $notifyUrl);
        if ($method === 'direct') { // the card form is ours: see /card
            header('Location: /card?order=' . rawurlencode($o['id']), true, 303);
            break;
        }
        go_to_cashier(shop_start_payment($o));
        break;

    case '/card':
        $o = card_order_from($_GET);
        if ($o !== null) {
            page_card_form($o);
        }
        break;

    case '/card/pay':
        $o = card_order_from($_POST);
        if ($o === null) {
            break;
        }
        $card = card_from_post();
        if ($card === null) {
            page_card_form($o, 'Check the card number, the expiry (MM/YY) and the CVV.', 422);
            break;
        }
        if (!empty($_POST['authorize_only']) && $o['captureMode'] !== 'MANUAL') {
            $o = shop_update_order($o['id'], function ($x) {
                $x['captureMode'] = 'MANUAL';
                return array($x, 'authorise only: capture from the order page');
            });
        }
        go_to_cashier(shop_start_payment($o, $card, !empty($_POST['threeds'])));
        break;

    case '/store':
        page_store();
        break;

    case '/store/pay':
        $value = isset($_POST['amount']) ? trim((string)$_POST['amount']) : '';
        if (!preg_match('/^[0-9]{1,6}(\.[0-9]{1,2})?$/', $value) || (float)$value <= 0) {
            page_store('Type the amount, such as 12.50.', 422);
            break;
        }
        $store = shop_store();
        $item = array('title' => "In store: {$store['merchantName']}, {$store['store']['storeName']}",
            'amount' => array('currency' => 'USD', 'value' => (string)(int)round((float)$value * 100)));
        go_to_cashier(shop_start_payment(shop_create_order('instore', 'entrycode', $item)));
        break;

    case '/capture':
        $o = order_from($_POST, 'order');
        $r = shop_capture($o['id']);
        see_order($o['id'], $r['status'] === 'S' ? 'capture-accepted' : ($r['status'] === 'NOOP' ? '' : 'capture-not-done'));
        break;

    case '/pay':
        $o = order_from($_POST, 'order');
        if ($o['state'] !== 'pending') {
            see_order($o['id']);
            break;
        }
        go_to_cashier(shop_start_payment($o));
        break;

    case '/refund':
        $o = order_from($_POST, 'order');
        $r = shop_refund($o['id']);
        $map = array('S' => 'refund-accepted', 'F' => 'refund-refused', 'U' => 'refund-unknown');
        see_order($o['id'], isset($map[$r['status']]) ? $map[$r['status']] : '');
        break;

    case '/cancel':
        $o = order_from($_POST, 'order');
        $r = shop_cancel($o['id']);
        $map = array('F' => 'cancel-refused', 'U' => 'cancel-unknown');
        $refusedButGone = ($r['status'] === 'F' && $r['code'] === 'ORDER_NOT_EXIST');
        see_order($o['id'], (isset($map[$r['status']]) && !$refusedButGone) ? $map[$r['status']] : '');
        break;

    case '/antom/notify.php':
        list($status, $answer) = shop_handle_antom_notify($_SERVER['REQUEST_URI'], antom_request_headers(), file_get_contents('php://input'));
        http_response_code($status);
        header('Content-Type: application/json');
        echo json_encode($answer, JSON_UNESCAPED_SLASHES);
        break;

    case '/antom-events':
        list($status, $answer) = shop_handle_event(antom_request_headers(), file_get_contents('php://input'));
        http_response_code($status);
        header('Content-Type: application/json');
        echo json_encode($answer, JSON_UNESCAPED_SLASHES), "\n";
        break;
}
return true;
