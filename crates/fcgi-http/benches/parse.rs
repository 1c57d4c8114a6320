//! Throughput of the per-request work of an HTTP connection, single thread:
//! `cargo bench -p fcgi-http --bench parse`.
//!
//! Rows: httparse alone (the floor), our head parse (httparse + scan +
//! RFC 9112 checks), head + CGI params (what fcgi-node does per request),
//! response head + body encoding, and chunked body decoding.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fcgi_http::{
    cgi_params, encode_chunk, encode_head, BodyDecoder, BodyKind, BodyLength, ConnInfo, Limits,
    RequestParser, ResponseContext, Status, LAST_CHUNK,
};

const WRK: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const CURL: &[u8] = b"GET /api/items?id=42 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
const BROWSER: &[u8] = b"GET /static/app.js?v=3 HTTP/1.1\r\nHost: localhost:8080\r\nConnection: keep-alive\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Accept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\
Referer: http://localhost:8080/\r\nSec-Fetch-Dest: script\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\n\
Cookie: session=0123456789abcdef; theme=dark\r\n\r\n";
const POST: &[u8] = b"POST /echo HTTP/1.1\r\nHost: localhost:8080\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"hello\":\"x\"}";

/// Runs `f` for about `budget`, returns ns per call (best of 5 rounds).
/// `BENCH_MS` sets the time budget per row (default 400 ms).
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut n = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() > budget / 10 {
            break;
        }
        n *= 2;
    }
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn row(name: &str, bytes: usize, ns: f64) {
    println!(
        "{name:<34} {ns:>8.1} ns  {:>6.2} M/s  {:>7.0} MB/s",
        1e3 / ns,
        bytes as f64 / ns * 1e3
    );
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400),
    );
    let conn = ConnInfo::new(
        Some("127.0.0.1:8080".parse().unwrap()),
        Some("127.0.0.1:50000".parse().unwrap()),
    );
    println!(
        "{:<34} {:>11}  {:>8}  {:>11}",
        "per request", "time", "rate", "input"
    );
    for (name, req) in [
        ("wrk", WRK),
        ("curl", CURL),
        ("browser", BROWSER),
        ("post", POST),
    ] {
        let ns = measure(budget, || {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Request::new(&mut headers);
            black_box(r.parse(black_box(req)).unwrap());
        });
        row(
            &format!("httparse only      {name} {}B", req.len()),
            req.len(),
            ns,
        );

        let mut parser = RequestParser::new(Limits::default());
        let ns = measure(budget, || {
            let status = parser.parse(black_box(req)).unwrap();
            assert!(matches!(status, Status::Complete { .. }));
            black_box(parser.request(req).keep_alive());
        });
        row(&format!("RequestParser      {name}"), req.len(), ns);

        let mut params = Vec::with_capacity(1024);
        let ns = measure(budget, || {
            parser.parse(black_box(req)).unwrap();
            params.clear();
            black_box(cgi_params(&parser.request(req), &conn, &mut params));
        });
        row(&format!("parse + cgi_params {name}"), req.len(), ns);
    }

    let mut out = Vec::with_capacity(4096);
    let date = *b"Sun, 06 Nov 1994 08:49:37 GMT";
    let ctx = ResponseContext {
        date: Some(&date),
        keep_alive_timeout: Some(60),
        ..ResponseContext::default()
    };
    let ns = measure(budget, || {
        out.clear();
        let mut enc = encode_head(
            &mut out,
            200,
            [("Content-Type", "text/plain; charset=utf-8")],
            BodyLength::Known(13),
            &ctx,
        );
        enc.write(&mut out, b"Hello, world!").unwrap();
        enc.finish(&mut out).unwrap();
        black_box(&out);
    });
    row("response head + 13 B body", out.len(), ns);

    // 1 MiB chunked body in 16 KiB chunks, decoded from one buffer.
    let data = vec![7u8; 1 << 20];
    let mut wire = Vec::new();
    for chunk in data.chunks(16 << 10) {
        encode_chunk(&mut wire, chunk);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let limits = Limits::default();
    let ns = measure(budget, || {
        let mut d = BodyDecoder::new(BodyKind::Chunked, &limits);
        let mut pos = 0;
        let mut total = 0;
        loop {
            let step = d.decode(&wire[pos..]).unwrap();
            pos += step.consumed;
            total += black_box(step.data).len();
            if step.done {
                break;
            }
        }
        assert_eq!(total, data.len());
    });
    println!(
        "{:<34} {:>8.1} µs  {:>6.2} GB/s",
        "chunked decode 1 MiB / 16 KiB",
        ns / 1e3,
        wire.len() as f64 / ns
    );
}
