<?php
// php harness.php <examples/verify> <cases>: see README.md.
require $argv[1] . '/standard_webhooks.php';
require $argv[1] . '/antom_signature.php';
foreach (file($argv[2], FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
    list($name, $format, $creds, $path, $now, $headers, $body) = explode("\t", $line);
    $h = array();
    foreach (explode("\n", base64_decode($headers)) as $hl) {
        if ($hl !== '') {
            list($k, $v) = explode(': ', $hl, 2);
            $h[$k] = $v;
        }
    }
    $list = array();
    foreach (explode(',', $creds) as $c) {
        list($label, $value) = explode(':', $c, 2);
        $list[$label] = base64_decode($value);
    }
    if ($format === 'sw') {
        $r = antom_verify_event(array_values($list), $h, base64_decode($body), 300, (int)$now);
    } else {
        $r = antom_verify_signature(isset($list['*']) ? $list['*'] : $list, base64_decode($path), $h, base64_decode($body));
    }
    echo $name, "\t", $r['ok'] ? "ok\t" . ($format === 'sw' ? $r['id'] : $r['keyVersion']) : "fail\t$r[status]\t$r[reason]", "\n";
}
