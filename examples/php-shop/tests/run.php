<?php
/*
 * Self-contained tests for examples/verify and the demo shop. Needs only php-cli (PHP 7.4+);
 * node, python3, javac/java and openssl are used for cross-checks when present, skipped if not.
 *
 *   php examples/php-shop/tests/run.php
 *
 * Part A checks the Standard Webhooks verifiers against vectors.json (signatures made by the
 * openssl CLI) plus a fresh openssl-signed vector. Part B starts a stub ANTOM_API and the shop
 * with `php -S` on free loopback ports, drives checkout, events, refunds, and cleans up.
 * Last line: "N passed, M failed[, K skipped]"; exit status 1 when anything failed.
 */

error_reporting(E_ALL);
$ROOT = dirname(__DIR__);                 // examples/php-shop
$VERIFY_DIR = dirname($ROOT) . '/verify'; // examples/verify
require_once $VERIFY_DIR . '/standard_webhooks.php';

$T = array('passed' => 0, 'failed' => 0, 'skipped' => 0);

function check($cond, $name, $detail = '')
{
    global $T;
    if ($cond) {
        $T['passed']++;
        echo "ok   $name\n";
    } else {
        $T['failed']++;
        echo "FAIL $name" . ($detail !== '' ? ": $detail" : '') . "\n";
    }
    return (bool)$cond;
}

function skip($name, $why)
{
    global $T;
    $T['skipped']++;
    echo "skip $name ($why)\n";
}

function finish()
{
    global $T;
    echo "{$T['passed']} passed, {$T['failed']} failed" . ($T['skipped'] ? ", {$T['skipped']} skipped" : '') . "\n";
    exit($T['failed'] > 0 ? 1 : 0);
}

function which($bin)
{
    foreach (explode(PATH_SEPARATOR, getenv('PATH') ?: '/usr/bin:/bin') as $dir) {
        if ($dir !== '' && is_file("$dir/$bin") && is_executable("$dir/$bin")) {
            return "$dir/$bin";
        }
    }
    return null;
}

/** Runs a command (argv array, no shell) with optional stdin; returns [exit code, stdout, stderr]. */
function run(array $argv, $stdin = '', $cwd = null)
{
    $p = proc_open($argv, array(0 => array('pipe', 'r'), 1 => array('pipe', 'w'), 2 => array('pipe', 'w')), $pipes, $cwd);
    if (!is_resource($p)) {
        return array(-1, '', 'cannot start ' . $argv[0]);
    }
    fwrite($pipes[0], $stdin);
    fclose($pipes[0]);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    return array(proc_close($p), $out, $err);
}

function rrmdir($dir)
{
    if (!is_dir($dir) || is_link($dir)) {
        @unlink($dir);
        return;
    }
    foreach (array_diff(scandir($dir), array('.', '..')) as $f) {
        rrmdir("$dir/$f");
    }
    @rmdir($dir);
}

$TMP = sys_get_temp_dir() . '/php-shop-test-' . bin2hex(random_bytes(4));
mkdir($TMP, 0700, true);
$PROCS = array();
register_shutdown_function(function () use (&$PROCS, $TMP) {
    foreach ($PROCS as $p) {
        if (is_resource($p)) {
            proc_terminate($p);
            proc_close($p);
        }
    }
    if (getenv('KEEP_TEST_DIR')) {
        echo "kept $TMP\n";
    } else {
        rrmdir($TMP);
    }
});

// ============================================================ A. the verifiers

echo "# A. Standard Webhooks verification\n";
$vectors = json_decode(file_get_contents($VERIFY_DIR . '/vectors.json'), true);
check(is_array($vectors) && count($vectors['cases']) >= 10, 'vectors.json loads');

function case_headers(array $c)
{
    $h = array();
    foreach (array('id' => 'webhook-id', 'timestamp' => 'webhook-timestamp', 'signature' => 'webhook-signature') as $k => $name) {
        if ($c[$k] !== '') {
            $h[$name] = $c[$k];
        }
    }
    return $h;
}

foreach ($vectors['cases'] as $c) {
    $r = antom_verify_event($c['secret'], case_headers($c), base64_decode($c['body_b64']), 300, $c['now']);
    $got = $r['ok'] ? 200 : $r['status'];
    check($got === $c['want'] && ($r['ok'] || $r['reason'] !== ''), "php vector {$c['name']} -> {$c['want']}",
        "got $got" . (isset($r['reason']) ? " ({$r['reason']})" : ''));
}

// Header spellings: getallheaders() in any case, and $_SERVER style.
$c0 = $vectors['cases'][0];
$body0 = base64_decode($c0['body_b64']);
$r = antom_verify_event($c0['secret'], array('Webhook-Id' => $c0['id'], 'WEBHOOK-TIMESTAMP' => $c0['timestamp'],
    'Webhook-Signature' => $c0['signature']), $body0, 300, $c0['now']);
check($r['ok'] && $r['id'] === $c0['id'], 'php accepts mixed-case header names');
$r = antom_verify_event($c0['secret'], array('HTTP_WEBHOOK_ID' => $c0['id'], 'HTTP_WEBHOOK_TIMESTAMP' => $c0['timestamp'],
    'HTTP_WEBHOOK_SIGNATURE' => $c0['signature']), $body0, 300, $c0['now']);
check($r['ok'], 'php accepts $_SERVER-style header names');
$r = antom_verify_event('whsec_%%%', case_headers($c0), $body0, 300, $c0['now']);
check(!$r['ok'] && $r['status'] === 500, 'php reports an unusable secret as a configuration error (500)');
$r = antom_verify_event($c0['secret'], case_headers($c0), $body0 . "\n", 300, $c0['now']);
check(!$r['ok'] && $r['status'] === 401, 'php rejects a body with one added newline');

// A fresh vector signed right now by the openssl CLI (independent of PHP's hash_hmac).
if (($openssl = which('openssl')) !== null) {
    $key = random_bytes(32);
    $secret = 'whsec_' . base64_encode($key);
    $id = 'msg_' . bin2hex(random_bytes(8));
    $ts = (string)time();
    $body = '{"notifyType":"PAYMENT_RESULT","paymentRequestId":"pay_' . bin2hex(random_bytes(6)) . '","note":"é"}';
    list($code, $sig) = run(array($openssl, 'dgst', '-sha256', '-mac', 'HMAC', '-macopt', 'hexkey:' . bin2hex($key), '-binary'),
        "$id.$ts.$body");
    $sig = base64_encode($sig);
    check($code === 0 && strlen($sig) === 44, 'openssl computed an HMAC-SHA256');
    $r = antom_verify_event($secret, array('webhook-id' => $id, 'webhook-timestamp' => $ts, 'webhook-signature' => "v1,$sig"), $body);
    check($r['ok'], 'php verifies a fresh openssl-signed event with the real clock', isset($r['reason']) ? $r['reason'] : '');
} else {
    skip('fresh openssl vector', 'openssl not installed');
}

// The same vectors through the Node, Python and Java snippets, when those runtimes exist.
$tsv = "$TMP/vectors.tsv";
$lines = array();
foreach ($vectors['cases'] as $c) {
    $lines[] = implode("\t", array($c['name'], base64_encode($c['secret']), base64_encode($c['id']),
        base64_encode($c['timestamp']), base64_encode($c['signature']), $c['body_b64'], $c['now']));
}
file_put_contents($tsv, implode("\n", $lines) . "\n");
$want = array();
foreach ($vectors['cases'] as $c) {
    $want[$c['name']] = $c['want'];
}

function check_harness_output($lang, $res, array $want)
{
    list($code, $out, $err) = $res;
    if (!check($code === 0, "$lang harness ran", trim($err))) {
        return;
    }
    $got = array();
    foreach (explode("\n", trim($out)) as $line) {
        $parts = explode(' ', $line);
        if (count($parts) === 2) {
            $got[$parts[0]] = (int)$parts[1];
        }
    }
    foreach ($want as $name => $status) {
        check(isset($got[$name]) && $got[$name] === $status, "$lang vector $name -> $status",
            isset($got[$name]) ? "got {$got[$name]}" : 'no result');
    }
}

$NODE_HARNESS = <<<'JS'
const fs = require('fs');
const { verifyEvent } = require(process.argv[1]);
const d = (s) => Buffer.from(s, 'base64');
for (const line of fs.readFileSync(process.argv[2], 'utf8').trim().split('\n')) {
  const [name, secret, id, ts, sig, body, now] = line.split('\t');
  const h = {};
  if (d(id).length) h['webhook-id'] = d(id).toString();
  if (d(ts).length) h['webhook-timestamp'] = d(ts).toString();
  if (d(sig).length) h['webhook-signature'] = d(sig).toString();
  const r = verifyEvent(d(secret).toString(), h, d(body), 300, Number(now));
  console.log(name, r.ok ? 200 : r.status);
}
JS;
if (($node = which('node')) !== null) {
    check_harness_output('node', run(array($node, '-e', $NODE_HARNESS, $VERIFY_DIR . '/standard_webhooks.js', $tsv)), $want);
} else {
    skip('node vectors', 'node not installed');
}

$PY_HARNESS = <<<'PY'
import base64, sys
sys.path.insert(0, sys.argv[1])
from standard_webhooks import verify_event
d = lambda s: base64.b64decode(s)
for line in open(sys.argv[2]).read().strip().split("\n"):
    name, secret, mid, ts, sig, body, now = line.split("\t")
    h = {}
    if d(mid): h["Webhook-Id"] = d(mid).decode()
    if d(ts): h["Webhook-Timestamp"] = d(ts).decode()
    if d(sig): h["Webhook-Signature"] = d(sig).decode()
    r = verify_event(d(secret).decode(), h, d(body), 300, int(now))
    print(name, 200 if r["ok"] else r["status"])
PY;
if (($python = which('python3')) !== null) {
    check_harness_output('python', run(array($python, '-c', $PY_HARNESS, $VERIFY_DIR, $tsv)), $want);
} else {
    skip('python vectors', 'python3 not installed');
}

$JAVA_HARNESS = <<<'JAVA'
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

public class Harness {
    static String s(String b64) { return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8); }
    public static void main(String[] args) throws Exception {
        for (String line : new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8).trim().split("\n")) {
            String[] f = line.split("\t", -1);
            Map<String, String> h = new HashMap<>();
            if (!s(f[2]).isEmpty()) h.put("Webhook-Id", s(f[2]));
            if (!s(f[3]).isEmpty()) h.put("Webhook-Timestamp", s(f[3]));
            if (!s(f[4]).isEmpty()) h.put("Webhook-Signature", s(f[4]));
            int status = 200;
            try {
                StandardWebhooks.verify(java.util.Collections.singletonList(s(f[1])), h, Base64.getDecoder().decode(f[5]), 300, Long.parseLong(f[6]));
            } catch (StandardWebhooks.Failure e) {
                status = e.status;
            }
            System.out.println(f[0] + " " + status);
        }
    }
}
JAVA;
if (($javac = which('javac')) !== null && ($java = which('java')) !== null) {
    $jdir = "$TMP/java";
    mkdir($jdir);
    file_put_contents("$jdir/Harness.java", $JAVA_HARNESS);
    list($code, , $err) = run(array($javac, '-d', $jdir, $VERIFY_DIR . '/StandardWebhooks.java', "$jdir/Harness.java"));
    if (check($code === 0, 'javac compiles StandardWebhooks.java', trim($err))) {
        check_harness_output('java', run(array($java, '-cp', $jdir, 'Harness', $tsv)), $want);
    }
} else {
    skip('java vectors', 'javac/java not installed');
}

// ============================================================ B. the shop, end to end

echo "# B. the shop against a stub ANTOM_API\n";

function free_port()
{
    $s = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
    $name = stream_socket_get_name($s, false);
    fclose($s);
    return (int)substr($name, strrpos($name, ':') + 1);
}

function start_server($port, $script, array $env, $log)
{
    global $PROCS;
    $env = array_merge(getenv(), $env);
    $p = proc_open(array(PHP_BINARY, '-S', "127.0.0.1:$port", $script),
        array(0 => array('file', '/dev/null', 'r'), 1 => array('file', $log, 'a'), 2 => array('file', $log, 'a')),
        $pipes, dirname($script), $env);
    $PROCS[] = $p;
    for ($i = 0; $i < 100; $i++) {
        $c = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 0.2);
        if ($c) {
            fclose($c);
            return true;
        }
        usleep(50000);
    }
    return false;
}

/** Returns [status, lower-case headers, body]; never follows redirects. */
function http($method, $url, $body = null, array $headers = array())
{
    $h = '';
    foreach ($headers as $k => $v) {
        $h .= "$k: $v\r\n";
    }
    if (is_array($body)) {
        $body = http_build_query($body);
        $h .= "Content-Type: application/x-www-form-urlencoded\r\n";
    }
    $ctx = stream_context_create(array('http' => array('method' => $method, 'header' => $h,
        'content' => (string)$body, 'ignore_errors' => true, 'follow_location' => 0, 'timeout' => 20)));
    $raw = @file_get_contents($url, false, $ctx);
    $lines = isset($http_response_header) ? $http_response_header : array();
    $status = (isset($lines[0]) && preg_match('#^HTTP/\S+\s+(\d{3})#', $lines[0], $m)) ? (int)$m[1] : 0;
    $out = array();
    foreach (array_slice($lines, 1) as $line) {
        $parts = explode(':', $line, 2);
        if (count($parts) === 2) {
            $out[strtolower(trim($parts[0]))] = trim($parts[1]);
        }
    }
    return array($status, $out, $raw === false ? '' : $raw);
}

$stubPort = free_port();
$shopPort = free_port();
$STUB = "http://127.0.0.1:$stubPort";
$SHOP = "http://127.0.0.1:$shopPort";
$SECRET = 'whsec_' . base64_encode(random_bytes(32));
$PUBLIC = 'https://shop.example.test:8443';
// The key pair Antom (or Caddy's forward_key) signs /antom/notify.php's notifications with.
$NOTIFY_KEY = openssl_pkey_new(array('private_key_bits' => 2048, 'private_key_type' => OPENSSL_KEYTYPE_RSA));
$NOTIFY_PUBLIC = openssl_pkey_get_details($NOTIFY_KEY)['key']; // PEM
mkdir("$TMP/stub");
$stubOk = start_server($stubPort, __DIR__ . '/stub_antom_api.php', array('STUB_DIR' => "$TMP/stub"), "$TMP/stub.log");
$shopOk = start_server($shopPort, $ROOT . '/router.php', array(
    'ANTOM_API' => $STUB, 'ANTOM_FORWARD_SECRET' => $SECRET, 'SHOP_PUBLIC_URL' => $PUBLIC,
    'SHOP_DATA_DIR' => "$TMP/data", 'PHP_CLI_SERVER_WORKERS' => '4',
    'ANTOM_PUBLIC_KEY' => preg_replace('/-----[A-Z ]+-----|\s/', '', $NOTIFY_PUBLIC), // one-line base64, as the dashboard shows it
), "$TMP/shop.log");
check($stubOk, "stub ANTOM_API listens on $STUB");
if (!check($shopOk, "shop listens on $SHOP")) {
    finish();
}

function stub_mode(array $modes)
{
    global $TMP;
    file_put_contents("$TMP/stub/mode.json", json_encode($modes));
}

function stub_requests($api)
{
    global $TMP;
    $out = array();
    foreach (@file("$TMP/stub/requests.jsonl") ?: array() as $line) {
        $r = json_decode($line, true);
        if ($r['api'] === $api) {
            $out[] = $r;
        }
    }
    return $out;
}

function orders()
{
    global $SHOP;
    list(, , $body) = http('GET', "$SHOP/orders.json");
    $all = array();
    foreach (json_decode($body, true)['orders'] as $o) {
        $all[$o['id']] = $o;
    }
    return $all;
}

function order_state($id)
{
    $all = orders();
    return isset($all[$id]) ? $all[$id]['state'] : null;
}

function order_file($id)
{
    global $TMP;
    return json_decode(file_get_contents("$TMP/data/orders/$id.json"), true);
}

/** The state shown in the page's id="order-state" element. */
function shown_state($html)
{
    return preg_match('#id="order-state"[^>]*>([^<]*)<#', $html, $m) ? $m[1] : null;
}

function buy($sku)
{
    global $SHOP;
    $before = array_keys(orders());
    $res = http('POST', "$SHOP/checkout", array('sku' => $sku));
    $new = array_values(array_diff(array_keys(orders()), $before));
    return array($res, count($new) === 1 ? $new[0] : null);
}

/** Posts an event signed the way Caddy signs it. */
function send_event(array $event, $msgId, array $opt = array())
{
    global $SHOP, $SECRET;
    $body = isset($opt['raw']) ? $opt['raw'] : json_encode($event, JSON_UNESCAPED_SLASHES);
    $ts = isset($opt['ts']) ? $opt['ts'] : time();
    $key = base64_decode(substr(isset($opt['secret']) ? $opt['secret'] : $SECRET, 6));
    $sig = 'v1,' . base64_encode(hash_hmac('sha256', "$msgId.$ts.$body", $key, true));
    $headers = array('Content-Type' => 'application/json', 'webhook-id' => $msgId, 'webhook-timestamp' => $ts,
        'webhook-signature' => $sig, 'Antom-Event-Source' => isset($opt['source']) ? $opt['source'] : 'notification');
    if (isset($opt['drop'])) {
        unset($headers[$opt['drop']]);
    }
    if (isset($opt['tamper'])) {
        $body .= ' ';
    }
    return http('POST', "$SHOP/antom-events", $body, $headers);
}

function payment_result($order, $status, $paymentId = '202401011940108001001880000000001')
{
    return array(
        'notifyType' => 'PAYMENT_RESULT',
        'result' => array('resultCode' => $status === 'S' ? 'SUCCESS' : 'USER_BALANCE_NOT_ENOUGH', 'resultStatus' => $status,
            'resultMessage' => $status === 'S' ? 'success' : 'balance not enough'),
        'paymentRequestId' => $order['paymentRequestId'], 'paymentId' => $paymentId,
        'paymentAmount' => $order['amount'], 'paymentCreateTime' => gmdate('c'), 'paymentTime' => gmdate('c'),
    );
}

// --- catalogue and router
list($st, , $html) = http('GET', "$SHOP/");
check($st === 200 && strpos($html, 'id="buy-tea"') !== false && strpos($html, 'id="buy-mug"') !== false
    && strpos($html, 'id="buy-book"') !== false, 'catalogue shows buy buttons with stable ids');
foreach (array('/router.php', '/lib/shop.php', '/tests/run.php', '/tests/stub_antom_api.php', '/README.md',
             '/../verify/standard_webhooks.php') as $p) {
    list($st) = http('GET', $SHOP . $p);
    check($st === 404, "router serves no file: GET $p -> 404", "got $st");
}
list($st) = http('GET', "$SHOP/antom-events");
check($st === 405, 'GET /antom-events -> 405');

// --- checkout: createPaymentSession, redirect to normalUrl
list($res, $id) = buy('tea');
list($st, $hd) = $res;
check($st === 303 && isset($hd['location']) && strpos($hd['location'], "$STUB/cashier?session=") === 0,
    'checkout redirects the buyer to normalUrl (303)', "status $st, location " . (isset($hd['location']) ? $hd['location'] : '-'));
check($id !== null && order_state($id) === 'pending', 'checkout created one pending order');
$o = order_file($id);
$cps = stub_requests('createPaymentSession');
$req = count($cps) === 1 ? $cps[0]['body'] : array();
check(count($cps) === 1, 'one createPaymentSession call');
check(isset($req['paymentRequestId']) && $req['paymentRequestId'] === $o['paymentRequestId'] && strlen($req['paymentRequestId']) <= 64,
    'createPaymentSession carries the order\'s paymentRequestId (<= 64 chars)');
check(isset($req['paymentRedirectUrl']) && $req['paymentRedirectUrl'] === "$PUBLIC/result?order=$id",
    'paymentRedirectUrl is SHOP_PUBLIC_URL/result?order=<id>', isset($req['paymentRedirectUrl']) ? $req['paymentRedirectUrl'] : '');
check(isset($req['productCode'], $req['order']['referenceOrderId'], $req['paymentAmount'])
    && $req['productCode'] === 'CASHIER_PAYMENT' && $req['order']['referenceOrderId'] === $id
    && $req['paymentAmount'] === array('currency' => 'USD', 'value' => '1250')
    && $req['order']['orderAmount'] === $req['paymentAmount'] && $req['env']['terminalType'] === 'WEB',
    'createPaymentSession body: cashier product, order, amounts as minor-unit strings');
check(!isset($req['paymentNotifyUrl']), 'the shop leaves paymentNotifyUrl to Caddy');
check(strpos($cps[0]['contentType'], 'application/json') === 0, 'ANTOM_API call is sent as JSON');

// --- the result page proves nothing
list($st, , $html) = http('GET', "$SHOP/result?order=$id&resultStatus=S&paymentStatus=SUCCESS");
check($st === 200 && shown_state($html) === 'pending', 'result page shows pending', 'shown ' . shown_state($html));
check(strpos($html, 'http-equiv="refresh"') !== false && stripos($html, 'waiting for payment confirmation') !== false,
    'result page waits for the confirmation and refreshes itself');
http('GET', "$SHOP/result?order=$id&paymentStatus=SUCCESS");
check(order_state($id) === 'pending', 'visiting the result page never marks the order paid');

// --- bad events change nothing
$ev = payment_result($o, 'S');
list($st) = send_event($ev, 'msg_bad1', array('secret' => 'whsec_' . base64_encode(random_bytes(32))));
check($st === 401, 'event signed with the wrong secret -> 401', "got $st");
list($st) = send_event($ev, 'msg_bad2', array('tamper' => true));
check($st === 401, 'event with a tampered body -> 401', "got $st");
list($st) = send_event($ev, 'msg_bad3', array('ts' => time() - 600));
check($st === 400, 'event with a 10-minute-old timestamp -> 400', "got $st");
list($st) = send_event($ev, 'msg_bad4', array('drop' => 'webhook-signature'));
check($st === 400, 'event without webhook-signature -> 400', "got $st");
check(order_state($id) === 'pending', 'rejected events changed nothing');

// --- the verified notification makes it paid, once
list($st, , $body) = send_event($ev, 'msg_pay_tea');
check($st === 200, 'verified PAYMENT_RESULT S -> 200', "got $st $body");
$o = order_file($id);
check($o['state'] === 'paid' && $o['paymentId'] === $ev['paymentId'], 'order is paid, with the paymentId');
list($st, , $html) = http('GET', "$SHOP/order?id=$id");
check(shown_state($html) === 'paid' && strpos($html, $ev['paymentId']) !== false && strpos($html, 'id="refund"') !== false,
    'order page shows paid, the paymentId and the refund button');
$historyLen = count($o['history']);
$updated = $o['updatedAt'];
sleep(1); // so a rewrite would change updatedAt
list($st, , $body) = send_event($ev, 'msg_pay_tea');
check($st === 200 && strpos($body, 'duplicate') !== false, 'duplicate webhook-id -> 200 no-op', "$st $body");
list($st) = send_event($ev, 'msg_pay_tea_inquiry', array('source' => 'inquiry'));
check($st === 200, 'same result again from reconciliation (new id) -> 200');
list($st) = send_event(payment_result($o, 'F'), 'msg_late_failure');
check($st === 200, 'late PAYMENT_RESULT F -> 200');
$o = order_file($id);
check($o['state'] === 'paid' && count($o['history']) === $historyLen && $o['updatedAt'] === $updated,
    'duplicates and a late failure leave the paid order untouched', "state {$o['state']}");

// --- refund: stable refundRequestId, U then retry, double click
stub_mode(array('refund' => 'U'));
list($st, $hd) = http('POST', "$SHOP/refund", array('order' => $id));
check($st === 303 && strpos($hd['location'], 'refund-unknown') !== false, 'refund answered U -> "could not confirm; try again"');
check(order_file($id)['refund']['status'] === 'requested' && order_state($id) === 'paid', 'refund U keeps the order paid');
stub_mode(array());
list($st, $hd) = http('POST', "$SHOP/refund", array('order' => $id));
check($st === 303 && strpos($hd['location'], 'refund-accepted') !== false, 'refund retry answered S');
http('POST', "$SHOP/refund", array('order' => $id)); // double click after acceptance
$refunds = stub_requests('refund');
$ids = array_unique(array_map(function ($r) {
    return $r['body']['refundRequestId'];
}, $refunds));
check(count($refunds) === 2 && count($ids) === 1, 'both refund calls used one refundRequestId; a third click sent nothing',
    count($refunds) . ' calls, ' . count($ids) . ' ids');
check(isset($refunds[0]) && $refunds[0]['body']['paymentId'] === $ev['paymentId']
    && $refunds[0]['body']['refundAmount'] === array('currency' => 'USD', 'value' => '1250'),
    'refund names the paymentId and the full amount');
$o = order_file($id);
check($o['state'] === 'paid' && $o['refund']['status'] === 'processing', 'accepted refund waits for REFUND_RESULT');
list(, , $html) = http('GET', "$SHOP/order?id=$id");
check(strpos($html, 'id="refund"') === false, 'no refund button while the refund is processing');
$refundEvent = array('notifyType' => 'REFUND_RESULT',
    'result' => array('resultCode' => 'SUCCESS', 'resultStatus' => 'S', 'resultMessage' => 'success'),
    'refundRequestId' => $o['refund']['requestId'], 'refundId' => $o['refund']['refundId'], 'paymentId' => $ev['paymentId'],
    'refundAmount' => $o['amount'], 'refundStatus' => 'SUCCESS', 'refundTime' => gmdate('c'));
list($st) = send_event($refundEvent, 'msg_refund_tea');
check($st === 200 && order_state($id) === 'refunded', 'verified REFUND_RESULT -> refunded');
send_event($ev, 'msg_pay_tea_very_late', array('source' => 'inquiry'));
list(, , $html) = http('GET', "$SHOP/order?id=$id");
check(order_state($id) === 'refunded' && shown_state($html) === 'refunded', 'a late PAYMENT_RESULT does not undo the refund');

// --- U on createPaymentSession: same paymentRequestId on retry
stub_mode(array('createPaymentSession' => 'U'));
list($res, $mugId) = buy('mug');
list($st, , $html) = $res;
check($st === 503 && stripos($html, 'could not confirm') !== false && strpos($html, 'id="retry"') !== false,
    'createPaymentSession U -> "we could not confirm; try again"', "status $st");
check(order_state($mugId) === 'pending', 'U keeps the order pending');
stub_mode(array());
list($st, $hd) = http('POST', "$SHOP/pay", array('order' => $mugId));
check($st === 303 && strpos($hd['location'], "$STUB/cashier") === 0, 'retry reaches the cashier');
$cps = array_values(array_filter(stub_requests('createPaymentSession'), function ($r) use ($mugId) {
    return $r['body']['order']['referenceOrderId'] === $mugId;
}));
check(count($cps) === 2 && $cps[0]['body']['paymentRequestId'] === $cps[1]['body']['paymentRequestId'],
    'the retry reused the paymentRequestId');
list($st) = send_event(payment_result(order_file($mugId), 'F'), 'msg_mug_fail');
check($st === 200 && order_state($mugId) === 'failed', 'verified PAYMENT_RESULT F -> failed');

// --- F on createPaymentSession: reason shown, escaped
stub_mode(array('createPaymentSession' => 'F'));
list($res, $bookId) = buy('book');
list($st, , $html) = $res;
check(strpos($html, 'PARAM_ILLEGAL') !== false && strpos($html, '&lt;b&gt;amount&lt;/b&gt;') !== false
    && strpos($html, '<b>amount') === false, 'createPaymentSession F shows the reason, HTML-escaped');
check(order_state($bookId) === 'failed', 'F marks the order failed');
stub_mode(array('createPaymentSession' => 'NO_URL'));
list($res, $noUrlId) = buy('book');
list($st, , $html) = $res;
check($st === 502 && strpos($html, 'normalUrl') !== false && order_state($noUrlId) === 'pending',
    'an answer without normalUrl shows a clear error', "status $st");
stub_mode(array());

// --- cancel, then the money arrives anyway: paid wins
list($st, $hd) = http('POST', "$SHOP/cancel", array('order' => $noUrlId));
check($st === 303 && order_state($noUrlId) === 'cancelled' && count(stub_requests('cancel')) === 1, 'cancel -> cancelled');
send_event(payment_result(order_file($noUrlId), 'S', '202401011940108001001880000000009'), 'msg_after_cancel');
check(order_state($noUrlId) === 'paid', 'a verified payment after cancellation still shows paid (to be refunded)');

// --- unknown orders, other event kinds, junk input
list($st) = send_event(array('notifyType' => 'PAYMENT_RESULT', 'result' => array('resultStatus' => 'S'),
    'paymentRequestId' => 'pay_o20000101000000000000'), 'msg_unknown');
check($st === 404, 'event for an unknown paymentRequestId -> 404 (Caddy keeps it)', "got $st");
list($st) = send_event(array('notifyType' => 'PAYMENT_PENDING', 'paymentRequestId' => 'x'), 'msg_pending');
check($st === 200, 'other notification kinds are acknowledged');
list($st) = http('GET', "$SHOP/order?id=../../etc/passwd");
check($st === 404, 'order ids are validated');
list($st) = http('POST', "$SHOP/checkout", array('sku' => '<script>'));
check($st === 400, 'unknown sku -> 400');

// --- concurrent deliveries of one event (4 server workers, flock)
list(, $parId) = buy('tea');
$evPar = payment_result(order_file($parId), 'S', '202401011940108001001880000000042');
$children = $childPipes = array();
for ($i = 0; $i < 6; $i++) {
    $msg = ($i % 2) ? 'msg_par_same' : "msg_par_$i";
    $ts = time();
    $body = json_encode($i === 5 ? payment_result(order_file($parId), 'F') : $evPar, JSON_UNESCAPED_SLASHES);
    $sig = 'v1,' . base64_encode(hash_hmac('sha256', "$msg.$ts.$body", base64_decode(substr($SECRET, 6)), true));
    $script = '$c = stream_context_create(["http" => ["method" => "POST", "ignore_errors" => true, "header" => '
        . var_export("Content-Type: application/json\r\nwebhook-id: $msg\r\nwebhook-timestamp: $ts\r\nwebhook-signature: $sig\r\n", true)
        . ', "content" => ' . var_export($body, true) . ']]); file_get_contents(' . var_export("$SHOP/antom-events", true)
        . ', false, $c); echo substr($http_response_header[0], 9, 3);';
    $children[] = proc_open(array(PHP_BINARY, '-r', $script), array(1 => array('pipe', 'w')), $pipes);
    $childPipes[] = $pipes[1];
}
$codes = array();
foreach ($children as $k => $p) {
    $codes[] = stream_get_contents($childPipes[$k]);
    fclose($childPipes[$k]);
    proc_close($p);
}
$o = order_file($parId);
$paidEntries = count(array_filter($o['history'], function ($e) {
    return strpos($e['what'], 'paid') === 0;
}));
check($codes === array_fill(0, 6, '200') && $o['state'] === 'paid' && $paidEntries === 1,
    'six concurrent deliveries (duplicates and a failure) -> paid exactly once', implode(',', $codes) . " {$o['state']} x$paidEntries");

// --- the Antom notify handler (/antom/notify.php), as Antom (or Caddy's forward_format antom) calls it
/** Posts a notification signed as Antom signs one; returns [status, headers, decoded answer]. */
function send_antom_notify(array $event, array $opt = array())
{
    global $SHOP, $NOTIFY_KEY;
    $path = isset($opt['path']) ? $opt['path'] : '/antom/notify.php';
    $body = json_encode($event, JSON_UNESCAPED_SLASHES);
    $time = (string)round(microtime(true) * 1000);
    openssl_sign("POST $path\nSANDBOX_SHOP.$time.$body", $sig, $NOTIFY_KEY, OPENSSL_ALGO_SHA256);
    $enc = urlencode(base64_encode($sig));
    if (isset($opt['lower_hex'])) { // .NET emits %2b, and the docs print spaces after the commas
        $enc = preg_replace_callback('/%[0-9A-F]{2}/', function ($m) { return strtolower($m[0]); }, $enc);
    }
    $sep = isset($opt['lower_hex']) ? ', ' : ',';
    $headers = array('Content-Type' => 'application/json; charset=UTF-8', 'client-id' => 'SANDBOX_SHOP', 'request-time' => $time,
        'signature' => "algorithm=RSA256{$sep}keyVersion=1{$sep}signature=$enc");
    list($st, $hd, $raw) = http('POST', "$SHOP/antom/notify.php", isset($opt['tamper']) ? "$body " : $body, $headers);
    return array($st, $hd, json_decode($raw, true));
}
function antom_result($answer)
{
    return isset($answer['result']['resultStatus']) ? $answer['result']['resultStatus'] . ' ' . $answer['result']['resultCode'] : 'none';
}

list(, $antomId) = buy('book');
$antomOrder = order_file($antomId);
list($st, , $a) = send_antom_notify(payment_result($antomOrder, 'S'), array('tamper' => true));
check($st === 200 && antom_result($a) === 'F SIGNATURE_INVALID' && order_state($antomId) === 'pending',
    'antom notify: a changed body -> F SIGNATURE_INVALID, order still pending', antom_result($a));
list($st, , $a) = send_antom_notify(payment_result($antomOrder, 'S'), array('path' => '/antom/notify'));
check(antom_result($a) === 'F SIGNATURE_INVALID', 'antom notify: signed over another path -> F SIGNATURE_INVALID', antom_result($a));
list($st, $hd, $a) = send_antom_notify(payment_result($antomOrder, 'S'), array('lower_hex' => true));
check($st === 200 && $a === array('result' => array('resultCode' => 'SUCCESS', 'resultStatus' => 'S', 'resultMessage' => 'success'))
    && order_state($antomId) === 'paid' && strpos($hd['content-type'], 'application/json') === 0,
    "antom notify: a good signature (lower-case %xx, spaces after commas) -> Antom's exact ack, order paid", antom_result($a));
list($st, , $a) = send_antom_notify(payment_result($antomOrder, 'S'));
check(antom_result($a) === 'S SUCCESS' && order_state($antomId) === 'paid', 'antom notify: the same notification again -> ack, still paid');
list($st, , $a) = send_antom_notify(payment_result(array('paymentRequestId' => 'pay_o20240101deadbeef0000', 'amount' => $antomOrder['amount']), 'S'));
check(antom_result($a) === 'F PROCESS_FAIL', 'antom notify: an unknown order -> F PROCESS_FAIL (sent again later)', antom_result($a));
list($st) = http('POST', "$SHOP/checkout", array('sku' => 'tea', 'notify' => 'antom'));
check($st === 400, 'checkout with notify=antom but no SHOP_ANTOM_NOTIFY_URL -> 400');

// --- nothing sensitive in the shop's log
$log = file_get_contents("$TMP/shop.log");
check(strpos($log, substr($SECRET, 6, 20)) === false && strpos($log, '"paymentAmount"') === false,
    'shop log holds no secret and no event bodies');

finish();
