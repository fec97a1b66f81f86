<?php
/*
 * A stand-in for Caddy's antom_api listener, for tests only (php -S 127.0.0.1:<port> stub_antom_api.php).
 * Env STUB_DIR: requests are appended to $STUB_DIR/requests.jsonl; $STUB_DIR/mode.json
 * ({"createPaymentSession":"U", ...}) picks the answer per API: S (default), F, U, NO_URL.
 */
$dir = getenv('STUB_DIR');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
header('Content-Type: application/json');

if ($path === '/cashier') { // where normalUrl points: a placeholder cashier page
    header('Content-Type: text/html');
    echo '<p>stub cashier</p>';
    return true;
}
if ($_SERVER['REQUEST_METHOD'] !== 'POST' || !preg_match('#^/antom/v1/payments/([A-Za-z]+)$#', $path, $m)) {
    http_response_code(404);
    echo '{"result":{"resultCode":"NOT_FOUND","resultStatus":"F","resultMessage":"no such API"}}';
    return true;
}
$api = $m[1];
$raw = file_get_contents('php://input');
$req = json_decode($raw, true);
file_put_contents("$dir/requests.jsonl", json_encode(array('api' => $api, 'body' => $req,
    'contentType' => isset($_SERVER['CONTENT_TYPE']) ? $_SERVER['CONTENT_TYPE'] : '')) . "\n", FILE_APPEND | LOCK_EX);

$modes = is_file("$dir/mode.json") ? json_decode(file_get_contents("$dir/mode.json"), true) : array();
$mode = isset($modes[$api]) ? $modes[$api] : 'S';
$ok = array('resultCode' => 'SUCCESS', 'resultStatus' => 'S', 'resultMessage' => 'success');

if ($mode === 'U') { // what Caddy answers when it cannot know the outcome
    http_response_code(502);
    echo json_encode(array('result' => array('resultCode' => 'UNKNOWN_EXCEPTION', 'resultStatus' => 'U',
        'resultMessage' => 'gateway timeout, outcome unknown')));
    return true;
}
if ($mode === 'F') {
    echo json_encode(array('result' => array('resultCode' => 'PARAM_ILLEGAL', 'resultStatus' => 'F',
        'resultMessage' => 'Illegal parameter <b>amount</b>')));
    return true;
}
switch ($api) {
    case 'createPaymentSession':
        $answer = array('result' => $ok, 'paymentSessionData' => 'stub-session-data',
            'paymentSessionExpiryTime' => gmdate('Y-m-d\TH:i:s\Z', time() + 3600),
            'paymentSessionId' => 'ps_' . md5($req['paymentRequestId']));
        if ($mode !== 'NO_URL') {
            $answer['normalUrl'] = 'http://' . $_SERVER['HTTP_HOST'] . '/cashier?session=' . md5($req['paymentRequestId']);
        }
        break;
    case 'refund':
        $answer = array('result' => $ok, 'refundRequestId' => $req['refundRequestId'], 'paymentId' => $req['paymentId'],
            'refundId' => 'rf_' . substr(md5($req['refundRequestId']), 0, 16), 'refundAmount' => $req['refundAmount']);
        break;
    default:
        $answer = array('result' => $ok);
}
echo json_encode($answer, JSON_UNESCAPED_SLASHES);
return true;
