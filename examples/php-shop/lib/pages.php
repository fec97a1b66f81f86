<?php
/* HTML for the shop. Every dynamic value goes through h(). */

function h($s)
{
    return htmlspecialchars((string)$s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function money(array $a)
{
    return h($a['currency']) . ' ' . h(number_format(((int)$a['value']) / 100, 2));
}

function page($title, $content, $refreshSeconds = 0, $status = 200)
{
    http_response_code($status);
    header('Content-Type: text/html; charset=UTF-8');
    header("Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'");
    header('X-Content-Type-Options: nosniff');
    header('Referrer-Policy: no-referrer');
    header('Cache-Control: no-store');
    $refresh = $refreshSeconds > 0 ? '<meta http-equiv="refresh" content="' . (int)$refreshSeconds . '">' : '';
    echo '<!doctype html><html lang="en"><head><meta charset="utf-8">', $refresh,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<title>', h($title), ' · Teahouse demo shop</title><style>',
        'body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}',
        'header a{color:inherit;text-decoration:none;font-weight:600}header{border-bottom:1px solid #ddd;margin-bottom:1.5rem;padding-bottom:.5rem}',
        '.items{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:1rem}',
        '.card{border:1px solid #ddd;border-radius:8px;padding:1rem}',
        'button{font:inherit;padding:.45rem 1rem;border:0;border-radius:6px;background:#1677ff;color:#fff;cursor:pointer}',
        'button.secondary{background:#eee;color:#222}',
        '.state{display:inline-block;padding:.1rem .6rem;border-radius:99px;font-weight:600;background:#eee}',
        '.state-paid{background:#d9f7be}.state-authorized{background:#fff1b8}.state-failed,.state-cancelled{background:#ffd8d8}.state-refunded{background:#e6f0ff}',
        '.note{padding:.75rem 1rem;border-radius:6px;background:#fffbe6;border:1px solid #ffe58f}',
        '.error{background:#fff1f0;border-color:#ffa39e}',
        'table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee}',
        'form{display:inline;margin-right:.5rem}small{color:#666}</style></head><body>',
        '<header><a href="/">Teahouse demo shop</a> <small>pays with Antom through Caddy</small></header>',
        $content, '</body></html>';
}

function page_catalogue(array $orders)
{
    $html = '<h1>Catalogue</h1><div class="items">';
    $buttons = array('wallet' => array('buy', 'Buy'), 'easysafepay' => array('esp', 'Buy and link my wallet'),
        'card' => array('card', 'Pay by card'), 'direct' => array('direct', 'Card on our page (PCI)'));
    if (shop_linked_wallet() !== null) {
        $buttons['linked'] = array('linked', 'Pay with my linked wallet');
    }
    foreach (shop_catalogue() as $sku => $item) {
        $html .= '<div class="card"><h3>' . h($item['title']) . '</h3><p>' . money($item['amount']) . '</p>';
        foreach ($buttons as $method => $b) {
            $html .= '<form method="post" action="/checkout"><input type="hidden" name="sku" value="' . h($sku) . '">'
                . '<input type="hidden" name="method" value="' . h($method) . '">'
                . '<button id="' . h($b[0] . '-' . $sku) . '" type="submit"' . ($method === 'wallet' ? '' : ' class="secondary"') . '>'
                . h($b[1]) . '</button></form>';
        }
        if (getenv('SHOP_ANTOM_NOTIFY_URL')) { // notified through the Antom-format handler
            $html .= '<form method="post" action="/checkout"><input type="hidden" name="sku" value="' . h($sku) . '">'
                . '<input type="hidden" name="method" value="wallet"><input type="hidden" name="notify" value="antom">'
                . '<button id="legacy-' . h($sku) . '" type="submit" class="secondary">Buy (Antom-format notify)</button></form>';
        }
        $html .= '</div>';
    }
    $html .= '</div><p><a id="store" href="/store">In the shop? Scanned our entry code? Pay here.</a></p>';
    if ($orders) {
        $html .= '<h2>Recent orders</h2><table><tr><th>Order</th><th>Item</th><th>State</th></tr>';
        foreach (array_slice($orders, 0, 10) as $o) {
            $html .= '<tr><td><a href="/order?id=' . h(rawurlencode($o['id'])) . '">' . h($o['id']) . '</a></td><td>'
                . h($o['title']) . '</td><td><span class="state state-' . h($o['state']) . '">' . h($o['state']) . '</span></td></tr>';
        }
        $html .= '</table>';
    }
    page('Catalogue', $html);
}

/** The order's facts and state; shared by the order page and the result page. */
function order_details(array $o)
{
    $state = in_array($o['state'], SHOP_STATES, true) ? $o['state'] : 'pending';
    $rows = array(
        'Order' => h($o['id']),
        'Item' => h($o['title']),
        'Amount' => money($o['amount']),
        'State' => '<span id="order-state" class="state state-' . h($state) . '">' . h($state) . '</span>',
        'Payment request' => h($o['paymentRequestId']),
    );
    if (!empty($o['card'])) {
        $rows['Card'] = '<span id="card">' . h($o['card']) . '</span>';
    }
    if (!empty($o['paymentId'])) {
        $rows['Antom payment id'] = '<span id="payment-id">' . h($o['paymentId']) . '</span>';
    }
    if (!empty($o['failure'])) {
        $rows['Reason'] = h(trim($o['failure']['code'] . ' ' . $o['failure']['message']));
    }
    if ($o['refund']['status'] !== 'none') {
        $rows['Refund'] = h($o['refund']['status'] . ($o['refund']['refundId'] ? " ({$o['refund']['refundId']})" : '')
            . ($o['refund']['message'] ? ": {$o['refund']['message']}" : ''));
    }
    $html = '<table>';
    foreach ($rows as $k => $v) {
        $html .= '<tr><th>' . h($k) . '</th><td>' . $v . '</td></tr>';
    }
    return $html . '</table>';
}

function page_order(array $o, $notice = '')
{
    $id = h($o['id']);
    $html = '<h1>Order ' . $id . '</h1>' . ($notice !== '' ? '<p class="note">' . h($notice) . '</p>' : '') . order_details($o) . '<p>';
    if ($o['state'] === 'pending') {
        $html .= '<form method="post" action="/pay"><input type="hidden" name="order" value="' . $id . '">'
            . '<button id="pay" type="submit">Continue to payment</button></form> '
            . '<form method="post" action="/cancel"><input type="hidden" name="order" value="' . $id . '">'
            . '<button id="cancel" class="secondary" type="submit">Cancel order</button></form>';
    }
    if ($o['state'] === 'authorized') {
        // In a real shop this button belongs to the back office: capture when the goods ship.
        $html .= '<form method="post" action="/capture"><input type="hidden" name="order" value="' . $id . '">'
            . '<button id="capture" type="submit">Capture</button></form>';
    }
    $refundPending = in_array($o['refund']['status'], array('requested', 'processing'), true);
    if ($o['state'] === 'paid' && $o['refund']['status'] !== 'processing') {
        // In a real shop this button belongs to the back office, behind a login.
        $html .= '<form method="post" action="/refund"><input type="hidden" name="order" value="' . $id . '">'
            . '<button id="refund" type="submit">' . ($refundPending ? 'Retry refund' : 'Refund') . '</button></form>';
    }
    $html .= ' <a href="/order?id=' . h(rawurlencode($o['id'])) . '">Refresh</a></p>';
    $html .= '<h2>History</h2><table>';
    foreach (array_reverse($o['history']) as $ev) {
        $html .= '<tr><td><small>' . h($ev['at']) . '</small></td><td>' . h($ev['what']) . '</td></tr>';
    }
    page('Order ' . $o['id'], $html . '</table>', $o['refund']['status'] === 'processing' ? 5 : 0);
}

/**
 * Where the buyer lands after the cashier. It proves nothing (anyone can open this URL):
 * it only shows what the verified notifications have said so far, and waits for them.
 */
function page_result(array $o)
{
    $waiting = ($o['state'] === 'pending');
    if ($waiting) {
        $msg = '<p class="note" id="waiting">Waiting for payment confirmation from Antom… this page refreshes by itself.</p>';
    } elseif ($o['state'] === 'paid' || $o['state'] === 'refunded') {
        $msg = '<p class="note">Thank you: Antom confirmed the payment.</p>';
    } elseif ($o['state'] === 'authorized') {
        $msg = '<p class="note">Thank you: Antom authorised your card; we capture the payment when your order ships.</p>';
    } else {
        $msg = '<p class="note error">The payment did not go through. <a href="/">Back to the catalogue</a></p>';
    }
    page('Payment result', '<h1>Your order</h1>' . $msg . order_details($o)
        . '<p><a href="/order?id=' . h(rawurlencode($o['id'])) . '">Order page</a></p>', $waiting ? 3 : 0);
}

/**
 * Our own card form (server-to-server card payments). Posting a card through our server puts
 * the shop in PCI DSS scope: the card goes to Antom through Caddy and is never stored or logged.
 */
function page_card_form(array $o, $error = '', $status = 200)
{
    $id = h($o['id']);
    page('Card payment', '<h1>Card payment</h1>'
        . '<p class="note">Server-to-server card payment: this page and the shop\'s server see the card, so they need PCI DSS scope. '
        . 'Without it, use "Pay by card" (Antom\'s hosted card form).</p>'
        . ($error !== '' ? '<p class="note error" id="card-error">' . h($error) . '</p>' : '')
        . order_details($o)
        . '<form method="post" action="/card/pay" autocomplete="off" style="display:block"><input type="hidden" name="order" value="' . $id . '">'
        . '<p><label>Card number <input id="card-number" name="cardNo" inputmode="numeric" autocomplete="off" required></label></p>'
        . '<p><label>Expiry (MM/YY) <input id="expiry" name="expiry" autocomplete="off" required></label> '
        . '<label>CVV <input id="cvv" name="cvv" inputmode="numeric" autocomplete="off" required></label></p>'
        . '<p><label>Cardholder <input id="holder" name="holder" autocomplete="off"></label></p>'
        . '<p><label><input type="checkbox" id="threeds" name="threeds" value="1"> 3-D Secure</label> '
        . '<label><input type="checkbox" id="authorize-only" name="authorize_only" value="1"> Authorise only (capture later)</label></p>'
        . '<p><button id="card-pay" type="submit">Pay ' . money($o['amount']) . '</button></p></form>', 0, $status);
}

/** The page the store's entry code opens in the buyer's wallet: type the amount, pay. */
function page_store($error = '', $status = 200)
{
    $s = shop_store();
    page('In store', '<h1>' . h($s['merchantName'] . ', ' . $s['store']['storeName']) . '</h1>'
        . '<p>You scanned our entry code. Type the amount on the till and confirm in your wallet.</p>'
        . ($error !== '' ? '<p class="note error" id="store-error">' . h($error) . '</p>' : '')
        . '<form method="post" action="/store/pay"><label>Amount (USD) <input id="amount" name="amount" inputmode="decimal" required></label> '
        . '<button id="store-pay" type="submit">Pay</button></form>', 0, $status);
}

/** Shown when Antom gave us no page for the buyer. */
function page_payment_problem(array $start)
{
    $o = $start['order'];
    $id = h($o['id']);
    if ($start['kind'] === 'F') {
        $text = 'Antom refused the payment: ' . trim($start['code'] . ' ' . $start['message']) . '. Nothing was charged.';
        $status = 200;
        $retry = '<a href="/">Back to the catalogue</a>';
    } else {
        $text = ($start['kind'] === 'U')
            ? 'We could not confirm the payment session; try again.'
            : $start['message'] . ' Try again in a moment.';
        $status = ($start['kind'] === 'U') ? 503 : 502;
        // Same order, same paymentRequestId: Antom deduplicates the retry.
        $retry = '<form method="post" action="/pay"><input type="hidden" name="order" value="' . $id . '">'
            . '<button id="retry" type="submit">Try again</button></form>';
    }
    page('Payment', '<h1>Payment</h1><p class="note error" id="payment-error">' . h($text) . '</p>'
        . order_details($o) . '<p>' . $retry . '</p>', 0, $status);
}

function page_error($status, $text)
{
    page('Error', '<h1>' . h($status) . '</h1><p>' . h($text) . '</p><p><a href="/">Catalogue</a></p>', 0, $status);
}
