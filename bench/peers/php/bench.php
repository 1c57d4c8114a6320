<?php
// Peer: PHP-FPM with the bench routes (one script, routed on REQUEST_URI).
$path = strtok($_SERVER['REQUEST_URI'] ?? '/', '?');
switch ($path) {
case '/echo':
    header('Content-Type: application/octet-stream');
    echo file_get_contents('php://input');
    break;
case '/upload':
    $in = fopen('php://input', 'rb');
    $n = 0;
    while (!feof($in)) { $n += strlen(fread($in, 65536)); }
    header('Content-Type: text/plain');
    echo $n, "\n";
    break;
case '/big':
    header('Content-Type: application/octet-stream');
    echo str_repeat('x', 1048576);
    break;
case '/params':
    header('Content-Type: text/plain');
    echo count($_SERVER), "\n";
    break;
default:
    header('Content-Type: text/plain');
    echo "Hello, World!\n";
}
