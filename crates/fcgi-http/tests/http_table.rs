//! Connection-level cases: every request shape of __test__/http.test.ts
//! (with that suite's limits), the smuggling shapes, and the node:http
//! behaviours probed with the js engine, each with the status both engines
//! answer. Each case runs whole and split into 1-byte reads.

mod common;

use common::{bodies, errors, targets, Ev, Harness};
use fcgi_http::{error_response, HttpError, Limits, Version};

/// The limits of __test__/http.test.ts: maxBodyBytes 1 MiB, maxParams 50,
/// maxParamsBytes 16 KiB (→ head), maxUrlBytes default 8192.
fn suite_limits() -> Limits {
    Limits {
        max_target_bytes: 8192,
        max_head_bytes: 16 * 1024,
        max_headers: 50,
        max_body_bytes: 1024 * 1024,
        ..Limits::default()
    }
}

/// Runs `input` whole and byte by byte; both must give the same trace.
fn run(input: &[u8]) -> Vec<Ev> {
    let limits = suite_limits();
    let whole = Harness::run_all(&limits, input, input.len());
    let split = Harness::run_all(&limits, input, 1);
    assert_eq!(whole, split, "{:?}", String::from_utf8_lossy(input));
    whole
}

fn status(input: &str) -> Option<u16> {
    let errors = errors(&run(input.as_bytes()));
    assert!(errors.len() <= 1);
    errors.first().map(HttpError::status)
}

#[test]
fn smuggling_shapes_of_the_http_suite_get_400() {
    let cases = [
        ("Content-Length with Transfer-Encoding", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", HttpError::ContentLengthWithTransferEncoding),
        ("duplicate Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", HttpError::DuplicateContentLength),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", HttpError::ObsFold),
        ("bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", HttpError::BadChunkSize),
        ("unknown transfer coding", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", HttpError::BadTransferEncoding),
    ];
    for (name, input, expected) in cases {
        let events = run(input.as_bytes());
        assert_eq!(errors(&events), [expected], "{name}");
        assert_eq!(expected.status(), 400, "{name}");
        // Nothing after the error is read: exactly one response.
        assert!(matches!(events.last(), Some(Ev::Error(_))), "{name}");
    }
}

#[test]
fn more_smuggling_shapes() {
    let cases = [
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n  , identity\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX T: 1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",
        "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\n Host: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
    ];
    for input in cases {
        assert_eq!(status(input), Some(400), "{input:?}");
    }
    // gzip before chunked: the length is known, the coding is not: 501.
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        Some(501)
    );
}

#[test]
fn malformed_and_versions() {
    assert_eq!(status("HELLO THERE\r\n\r\n"), Some(400));
    assert_eq!(status("GET / HTTP/3.1\r\nHost: x\r\n\r\n"), Some(505));
    assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), Some(505));
    assert_eq!(status("GET / HTTP/1.2\r\nHost: x\r\n\r\n"), Some(505));
    assert_eq!(status("GET / HTTP/0.9\r\n\r\n"), Some(505));
    assert_eq!(status("GET /\r\n\r\n"), Some(400));
    assert_eq!(status("GET / http/1.1\r\nHost: x\r\n\r\n"), Some(400));
    // A TLS ClientHello is refused at its first byte.
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    assert_eq!(errors(&run(hello)), [HttpError::BadRequestLine]);
    assert_eq!(errors(&run(b"\x16")), [HttpError::BadRequestLine]);
    // A method that never ends waits for the head limit.
    assert_eq!(errors(&run(&[b'A'; 20000])), [HttpError::HeadTooLarge]);
    assert_eq!(
        status("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
        Some(501)
    );
    assert_eq!(status("GET abc HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
    assert_eq!(
        status("POST / HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 3\r\n\r\nabc"),
        Some(417)
    );
}

#[test]
fn limits_of_the_http_suite() {
    assert_eq!(
        status(&format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "u".repeat(9000)
        )),
        Some(414)
    );
    // Longer than the head limit too: still 414 (node:http says 431 here).
    assert_eq!(
        status(&format!(
            "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "u".repeat(20000)
        )),
        Some(414)
    );
    assert_eq!(
        status(&format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "h".repeat(20000)
        )),
        Some(431)
    );
    let many: String = (0..60).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(
        status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
        Some(431)
    );
    // 49 + Host = 50 headers: fine.
    let enough: String = (0..49).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(
        status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{enough}\r\n")),
        None
    );
    assert_eq!(
        status(&format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nabc",
            2 * 1024 * 1024
        )),
        Some(413)
    );
    // A chunked body over the limit is refused when the chunk size says so.
    let big = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        1024 * 1024 + 1
    );
    assert_eq!(status(&big), Some(413));
}

#[test]
fn pipelining_three_requests_in_one_write() {
    let events = run(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(targets(&events), ["/one", "/two", "/three"]);
    assert!(errors(&events).is_empty());
}

#[test]
fn content_length_and_chunked_bodies() {
    let events = run(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(bodies(&events), [b"hello".to_vec()]);
    let events = run(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    assert_eq!(bodies(&events), [b"abcdefg".to_vec()]);
    // Pipelined after a chunked body, and a bodiless POST.
    let events = run(b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(targets(&events), ["/a", "/b", "/c"]);
    assert_eq!(
        bodies(&events),
        [b"abc".to_vec(), b"".to_vec(), b"hi".to_vec()]
    );
}

#[test]
fn expect_continue() {
    let events = run(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nbody");
    let Ev::Request {
        expect_continue,
        keep_alive,
        ..
    } = &events[0]
    else {
        panic!()
    };
    assert!(*expect_continue);
    assert!(!*keep_alive);
    assert_eq!(bodies(&events), [b"body".to_vec()]);
}

#[test]
fn connection_close_and_http_1_0_stop_reading() {
    // node:http answers the second request here with a 400; we never read it.
    let events = run(b"GET /old HTTP/1.0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n");
    assert_eq!(targets(&events), ["/old"]);
    assert!(errors(&events).is_empty());
    let Ev::Request {
        version,
        keep_alive,
        ..
    } = &events[0]
    else {
        panic!()
    };
    assert_eq!((*version, *keep_alive), (Version::Http10, false));
    let events = run(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(targets(&events), ["/"]);
    let events = run(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n");
    assert_eq!(targets(&events), ["/a", "/b"]);
}

#[test]
fn node_accepts_these_and_so_do_we() {
    for input in [
        "PURGE / HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://h/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a\"<>{}|\\^`b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: \u{e9}\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\tb\t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  3  \r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 03\r\n\r\nabc",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000000003\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\\\"c\"\r\nabc\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    ] {
        let events = run(input.as_bytes());
        assert!(errors(&events).is_empty(), "{input:?}: {:?}", errors(&events));
        assert_eq!(targets(&events).len(), 1, "{input:?}");
        assert_eq!(bodies(&events).len(), 1, "{input:?}");
    }
}

#[test]
fn error_answers_are_short_and_close() {
    for error in [
        HttpError::BadChunkSize,
        HttpError::UriTooLong,
        HttpError::TooManyHeaders,
        HttpError::BodyTooLarge,
        HttpError::VersionNotSupported,
    ] {
        let mut out = Vec::new();
        error_response(&mut out, error.status(), None);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(&format!("HTTP/1.1 {} ", error.status())));
        assert!(text.contains("\r\nConnection: close\r\n\r\n"));
    }
}
