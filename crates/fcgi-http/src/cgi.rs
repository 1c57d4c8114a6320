//! CGI meta-variables (RFC 3875 §4.1) for an HTTP request, encoded as
//! FastCGI name-value pairs ([`fcgi_proto::params`]), so the JS side decodes
//! HTTP and FastCGI params with the same code.
//!
//! The result is byte-for-byte what `cgiParams` in
//! lib/engines/js/http-server.ts produces once the JS side decodes it
//! (names as latin1, values as UTF-8, as `decodePairs` does):
//! - the same names in the same order (fixed ones first, then one per
//!   distinct header in order of first appearance);
//! - header names upper-cased with `-` → `_`, `HTTP_` prefixed except
//!   CONTENT_TYPE and CONTENT_LENGTH; repeated headers joined with `", "`,
//!   Cookie with `"; "`;
//! - header values as node:http reads them: ISO-8859-1, so bytes >= 0x80
//!   are re-encoded as UTF-8 (`0xE9` → `C3 A9`), which the UTF-8 decode on
//!   the JS side turns back into the same string node:http makes;
//! - PATH_INFO decoded like `decodeURIComponent` (UTF-8 escapes; the raw
//!   path if any escape is malformed or not UTF-8);
//! - SERVER_NAME: the Host value without a trailing `:port`, else the local
//!   address, else `localhost`; SERVER_ADDR not normalized, REMOTE_ADDR with
//!   `::ffff:` stripped from IPv4-mapped addresses (`normalizeAddress`);
//!   addresses and ports empty on unix sockets.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use fcgi_proto::params::{encode_len, encode_pair};

use crate::request::{Request, Version};

/// A connection's addresses, encoded once per connection (SERVER_ADDR,
/// SERVER_PORT, REMOTE_ADDR and REMOTE_PORT are one block of pairs). `None`
/// for a unix socket: node:http then has no address or port either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    server_addr: Vec<u8>,
    /// The four address pairs, encoded.
    pairs: Vec<u8>,
}

/// A unix socket's: no addresses.
impl Default for ConnInfo {
    fn default() -> Self {
        Self::new(None, None)
    }
}

impl ConnInfo {
    pub fn new(local: Option<SocketAddr>, remote: Option<SocketAddr>) -> Self {
        let (mut server_addr, mut server_port) = (Vec::new(), Vec::new());
        let (mut remote_addr, mut remote_port) = (Vec::new(), Vec::new());
        if let Some(local) = local {
            write_ip(&mut server_addr, local.ip(), false);
            crate::response::push_decimal(&mut server_port, u64::from(local.port()));
        }
        if let Some(remote) = remote {
            write_ip(&mut remote_addr, remote.ip(), true);
            crate::response::push_decimal(&mut remote_port, u64::from(remote.port()));
        }
        let mut pairs = Vec::new();
        encode_pair(&mut pairs, b"SERVER_ADDR", &server_addr);
        encode_pair(&mut pairs, b"SERVER_PORT", &server_port);
        encode_pair(&mut pairs, b"REMOTE_ADDR", &remote_addr);
        encode_pair(&mut pairs, b"REMOTE_PORT", &remote_port);
        Self { server_addr, pairs }
    }
}

/// `GATEWAY_INTERFACE=CGI/1.1`, `SERVER_SOFTWARE=fcgi`, `SERVER_PROTOCOL=HTTP/1.x`.
const LEAD_11: &[u8] =
    b"\x11\x07GATEWAY_INTERFACECGI/1.1\x0f\x04SERVER_SOFTWAREfcgi\x0f\x08SERVER_PROTOCOLHTTP/1.1";
const LEAD_10: &[u8] =
    b"\x11\x07GATEWAY_INTERFACECGI/1.1\x0f\x04SERVER_SOFTWAREfcgi\x0f\x08SERVER_PROTOCOLHTTP/1.0";
/// `REQUEST_SCHEME=http`.
const SCHEME: &[u8] = b"\x0e\x04REQUEST_SCHEMEhttp";
/// `SCRIPT_NAME=`.
const SCRIPT_NAME: &[u8] = b"\x0b\x00SCRIPT_NAME";

/// Appends the request's CGI params to `out` as name-value pairs and returns
/// how many pairs it wrote. Allocates nothing beyond `out`'s growth unless
/// the path has `%` escapes or there are more than 48 headers.
pub fn cgi_params(req: &Request<'_>, conn: &ConnInfo, out: &mut Vec<u8>) -> usize {
    let target = req.target_bytes();
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &b""[..]),
    };
    out.reserve(320 + 2 * target.len() + req.head_len());
    out.extend_from_slice(match req.version() {
        Version::Http11 => LEAD_11,
        Version::Http10 => LEAD_10,
    });
    // The Host value is ASCII (checked by the parser).
    let host = strip_port(req.host().unwrap_or_default());
    let server_name: &[u8] = if !host.is_empty() {
        host
    } else if !conn.server_addr.is_empty() {
        &conn.server_addr
    } else {
        b"localhost"
    };
    encode_pair(out, b"SERVER_NAME", server_name);
    out.extend_from_slice(&conn.pairs);
    out.extend_from_slice(SCHEME);
    encode_pair(out, b"REQUEST_METHOD", req.method_bytes());
    encode_pair(out, b"REQUEST_URI", target);
    out.extend_from_slice(SCRIPT_NAME);
    // The target is ASCII (checked by the parser): without escapes, the path
    // is its own decoding.
    if memchr::memchr(b'%', path).is_none() {
        encode_pair(out, b"PATH_INFO", path);
    } else {
        let mut decoded = Vec::with_capacity(path.len());
        if !decode_uri_component(path, &mut decoded) {
            decoded.clear();
            decoded.extend_from_slice(path);
        }
        encode_pair(out, b"PATH_INFO", &decoded);
    }
    encode_pair(out, b"QUERY_STRING", query);
    14 + header_params(req, out)
}

/// Most headers are grouped in arrays on the stack; more spill to the heap.
const STACK_HEADERS: usize = 48;

/// One pair per distinct header name (upper-cased, `-` as `_`), in order of
/// first appearance, repeated values joined. Repeats are found by comparing
/// fingerprints of the normalized names, O(n²/2) u64 compares: 0.5 M for the
/// default 1000-header limit, well under a millisecond.
fn header_params(req: &Request<'_>, out: &mut Vec<u8>) -> usize {
    const NONE: usize = usize::MAX;
    let n = req.header_count();
    // Per header: its fingerprint, and the next header with the same name
    // (NONE: the last one; `repeat`: not the first one).
    let (mut stack_hash, mut stack_next, mut stack_repeat) = (
        [0u64; STACK_HEADERS],
        [NONE; STACK_HEADERS],
        [false; STACK_HEADERS],
    );
    let (mut heap_hash, mut heap_next, mut heap_repeat) = (Vec::new(), Vec::new(), Vec::new());
    let (hashes, next, repeat): (&mut [u64], &mut [usize], &mut [bool]) = if n <= STACK_HEADERS {
        (
            &mut stack_hash[..n],
            &mut stack_next[..n],
            &mut stack_repeat[..n],
        )
    } else {
        heap_hash.resize(n, 0);
        heap_next.resize(n, NONE);
        heap_repeat.resize(n, false);
        (&mut heap_hash, &mut heap_next, &mut heap_repeat)
    };
    for (i, hash) in hashes.iter_mut().enumerate() {
        *hash = name_hash(req.field(i).0);
    }
    for i in 0..n {
        if repeat[i] {
            continue;
        }
        let mut last = i;
        for j in i + 1..n {
            if !repeat[j] && hashes[i] == hashes[j] && same_name(req.field(i).0, req.field(j).0) {
                repeat[j] = true;
                next[last] = j;
                last = j;
            }
        }
    }
    let mut count = 0;
    for i in (0..n).filter(|&i| !repeat[i]) {
        count += 1;
        let (name, value) = req.field(i);
        let separator: &[u8] = if name.eq_ignore_ascii_case(b"cookie") {
            b"; "
        } else {
            b", "
        };
        let prefixed = !same_name(name, b"CONTENT_TYPE") && !same_name(name, b"CONTENT_LENGTH");
        // Value length first (the pair's length prefix), then the bytes.
        let mut value_len = utf8_len(value);
        let mut j = next[i];
        while j != NONE {
            value_len += separator.len() + utf8_len(req.field(j).1);
            j = next[j];
        }
        encode_len(out, name.len() + if prefixed { 5 } else { 0 });
        encode_len(out, value_len);
        if prefixed {
            out.extend_from_slice(b"HTTP_");
        }
        let start = out.len();
        out.extend_from_slice(name);
        out[start..].iter_mut().for_each(|b| *b = normalize(*b));
        latin1_to_utf8(value, out);
        let mut j = next[i];
        while j != NONE {
            out.extend_from_slice(separator);
            latin1_to_utf8(req.field(j).1, out);
            j = next[j];
        }
    }
    count
}

/// Header names are equal as CGI names: ASCII case and `-`/`_` ignored.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| normalize(x) == normalize(y))
}

fn normalize(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_uppercase()
    }
}

/// A cheap fingerprint of the normalized name: its length and three of its
/// bytes. Equal names have equal fingerprints; the rare unequal names with
/// equal fingerprints are told apart by [`same_name`].
fn name_hash(name: &[u8]) -> u64 {
    let at = |i: usize| u64::from(name.get(i).map_or(0, |&b| normalize(b)));
    (name.len() as u64) << 24
        | at(0) << 16
        | at(name.len() / 2) << 8
        | at(name.len().wrapping_sub(1))
}

/// Bytes of `latin1` once re-encoded as UTF-8.
fn utf8_len(latin1: &[u8]) -> usize {
    if latin1.is_ascii() {
        return latin1.len();
    }
    latin1.len() + latin1.iter().filter(|&&b| b >= 0x80).count()
}

/// `host.replace(/:\d+$/, '')`.
fn strip_port(host: &[u8]) -> &[u8] {
    match memchr::memrchr(b':', host) {
        Some(colon)
            if colon + 1 < host.len() && host[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            &host[..colon]
        }
        _ => host,
    }
}

/// An address as Node prints it; `normalize` strips `::ffff:` from
/// IPv4-mapped IPv6 addresses (lib/options.ts `normalizeAddress`).
fn write_ip(out: &mut Vec<u8>, ip: IpAddr, normalize: bool) {
    match ip {
        IpAddr::V6(v6) if normalize => match v6.to_ipv4_mapped() {
            Some(v4) => write!(out, "{v4}"),
            None => write!(out, "{v6}"),
        },
        ip => write!(out, "{ip}"),
    }
    .expect("writing to a Vec cannot fail");
}

/// Appends ISO-8859-1 bytes as UTF-8.
fn latin1_to_utf8(bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.is_ascii() {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        if b < 0x80 {
            out.push(b);
        } else {
            out.push(0xc0 | (b >> 6));
            out.push(0x80 | (b & 0x3f));
        }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// ECMAScript `decodeURIComponent` (ECMA-262 §19.2.6.5 Decode with an empty
/// reserved set) over an ISO-8859-1 string, appending UTF-8. Returns false
/// where JavaScript throws a URIError (`%` not followed by two hex digits,
/// an escaped sequence that is not one UTF-8 code point).
pub(crate) fn decode_uri_component(s: &[u8], out: &mut Vec<u8>) -> bool {
    let escape = |k: usize| -> Option<u8> {
        if *s.get(k)? != b'%' {
            return None;
        }
        Some(hex_value(*s.get(k + 1)?)? << 4 | hex_value(*s.get(k + 2)?)?)
    };
    let mut k = 0;
    while k < s.len() {
        if s[k] != b'%' {
            latin1_to_utf8(&s[k..k + 1], out);
            k += 1;
            continue;
        }
        let Some(first) = escape(k) else {
            return false;
        };
        k += 3;
        if first < 0x80 {
            out.push(first);
            continue;
        }
        let n = first.leading_ones() as usize;
        if !(2..=4).contains(&n) {
            return false;
        }
        let mut octets = [first, 0, 0, 0];
        for octet in &mut octets[1..n] {
            match escape(k) {
                Some(b) if b & 0xc0 == 0x80 => *octet = b,
                _ => return false,
            }
            k += 3;
        }
        // Overlong forms, surrogates and > U+10FFFF are not code points.
        if std::str::from_utf8(&octets[..n]).is_err() {
            return false;
        }
        out.extend_from_slice(&octets[..n]);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, RequestParser};

    fn decode(s: &str) -> Option<String> {
        let mut out = Vec::new();
        decode_uri_component(s.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn decode_uri_component_like_javascript() {
        assert_eq!(decode("/params/a%20b").as_deref(), Some("/params/a b"));
        assert_eq!(decode("/%41%2f%2F%25").as_deref(), Some("/A//%"));
        assert_eq!(decode("/%C3%A9").as_deref(), Some("/é"));
        assert_eq!(decode("/%c3%a9").as_deref(), Some("/é"));
        assert_eq!(decode("/%E2%82%AC").as_deref(), Some("/€"));
        assert_eq!(decode("/%F0%9F%98%80").as_deref(), Some("/😀"));
        assert_eq!(decode("/%00").as_deref(), Some("/\0"));
        for bad in [
            "/%",
            "/%4",
            "/%zz",
            "/%C3",
            "/%C3%",
            "/%C3%2",
            "/%C3A9",
            "/%C3%41",
            "/%A9",
            "/%C0%80",
            "/%ED%A0%80",
            "/%F4%90%80%80",
            "/%F8%80%80%80%80",
            "/%FF",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn constant_blocks_are_encoded_pairs() {
        for (block, version) in [(LEAD_11, "HTTP/1.1"), (LEAD_10, "HTTP/1.0")] {
            let mut expected = Vec::new();
            encode_pair(&mut expected, b"GATEWAY_INTERFACE", b"CGI/1.1");
            encode_pair(&mut expected, b"SERVER_SOFTWARE", b"fcgi");
            encode_pair(&mut expected, b"SERVER_PROTOCOL", version.as_bytes());
            assert_eq!(block, expected);
        }
        let mut expected = Vec::new();
        encode_pair(&mut expected, b"REQUEST_SCHEME", b"http");
        assert_eq!(SCHEME, expected);
        expected.clear();
        encode_pair(&mut expected, b"SCRIPT_NAME", b"");
        assert_eq!(SCRIPT_NAME, expected);
    }

    #[test]
    fn latin1() {
        let mut out = Vec::new();
        latin1_to_utf8(b"a\xe9\xff", &mut out);
        assert_eq!(out, "aéÿ".as_bytes());
    }

    #[test]
    fn ports() {
        assert_eq!(strip_port(b"x:8080"), b"x");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"[::1]"), b"[::1]");
        assert_eq!(strip_port(b"a:1:2"), b"a:1");
        assert_eq!(strip_port(b"x:"), b"x:");
        assert_eq!(strip_port(b":80"), b"");
        assert_eq!(strip_port(b"x:8a"), b"x:8a");
    }

    fn params(raw: &[u8], conn: &ConnInfo) -> Vec<(String, String)> {
        let mut p = RequestParser::new(Limits::default());
        p.parse(raw).unwrap();
        let mut out = Vec::new();
        let n = cgi_params(&p.request(raw), conn, &mut out);
        let pairs: Vec<_> = fcgi_proto::params::pairs(&out)
            .map(|p| {
                let p = p.unwrap();
                (
                    String::from_utf8(p.name.to_vec()).unwrap(),
                    String::from_utf8(p.value.to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(pairs.len(), n);
        pairs
    }

    fn tcp() -> ConnInfo {
        ConnInfo::new(
            Some("127.0.0.1:8080".parse().unwrap()),
            Some("127.0.0.1:50000".parse().unwrap()),
        )
    }

    #[test]
    fn params_in_node_order() {
        let raw = b"POST /params/a%20b?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\n\
            Content-Type: text/x\r\nX-Thing: v\r\nCookie: c=1\r\nx-thing: w\r\n\
            cookie: d=2\r\nContent-Length: 3\r\nX_Thing: u\r\nA: \xe9\r\n\r\n";
        let got = params(raw, &tcp());
        let expected: Vec<(String, String)> = [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", "fcgi"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("SERVER_NAME", "example.com"),
            ("SERVER_ADDR", "127.0.0.1"),
            ("SERVER_PORT", "8080"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("REMOTE_PORT", "50000"),
            ("REQUEST_SCHEME", "http"),
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/params/a%20b?x=1&y=2"),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", "/params/a b"),
            ("QUERY_STRING", "x=1&y=2"),
            ("HTTP_HOST", "example.com:8080"),
            ("CONTENT_TYPE", "text/x"),
            ("HTTP_X_THING", "v, w, u"),
            ("HTTP_COOKIE", "c=1; d=2"),
            ("CONTENT_LENGTH", "3"),
            ("HTTP_A", "é"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn addresses() {
        let raw = b"GET /%zz HTTP/1.0\r\n\r\n";
        let get = |conn: &ConnInfo| -> Vec<(String, String)> {
            params(raw, conn)
                .into_iter()
                .filter(|(n, _)| {
                    n.starts_with("SERVER_")
                        || n.starts_with("REMOTE_")
                        || n == "PATH_INFO"
                        || n == "QUERY_STRING"
                })
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        // Unix socket: node's socket.address() is {}.
        assert_eq!(
            get(&ConnInfo::default()),
            pairs(&[
                ("SERVER_SOFTWARE", "fcgi"),
                ("SERVER_PROTOCOL", "HTTP/1.0"),
                ("SERVER_NAME", "localhost"),
                ("SERVER_ADDR", ""),
                ("SERVER_PORT", ""),
                ("REMOTE_ADDR", ""),
                ("REMOTE_PORT", ""),
                ("PATH_INFO", "/%zz"),
                ("QUERY_STRING", ""),
            ])
        );
        // Dual-stack listener: local stays mapped, remote is normalized.
        let conn = ConnInfo::new(
            Some("[::ffff:127.0.0.1]:80".parse().unwrap()),
            Some("[::ffff:10.0.0.1]:1234".parse().unwrap()),
        );
        assert_eq!(
            get(&conn),
            pairs(&[
                ("SERVER_SOFTWARE", "fcgi"),
                ("SERVER_PROTOCOL", "HTTP/1.0"),
                ("SERVER_NAME", "::ffff:127.0.0.1"),
                ("SERVER_ADDR", "::ffff:127.0.0.1"),
                ("SERVER_PORT", "80"),
                ("REMOTE_ADDR", "10.0.0.1"),
                ("REMOTE_PORT", "1234"),
                ("PATH_INFO", "/%zz"),
                ("QUERY_STRING", ""),
            ])
        );
        let conn = ConnInfo::new(
            Some("[::1]:80".parse().unwrap()),
            Some("[::1]:1234".parse().unwrap()),
        );
        let got = get(&conn);
        assert!(got.contains(&("SERVER_NAME".into(), "::1".into())));
        assert!(got.contains(&("REMOTE_ADDR".into(), "::1".into())));
    }

    #[test]
    fn many_headers_group_correctly() {
        let mut raw = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..300 {
            raw.push_str(&format!("X-{}: {i}\r\n", i % 7));
        }
        raw.push_str("\r\n");
        let got = params(raw.as_bytes(), &tcp());
        assert_eq!(got.len(), 14 + 1 + 7);
        let x3 = &got.iter().find(|(n, _)| n == "HTTP_X_3").unwrap().1;
        let expected: Vec<String> = (0..300)
            .filter(|i| i % 7 == 3)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(x3, &expected.join(", "));
        assert_eq!(got[15].0, "HTTP_X_0");
        assert_eq!(got[21].0, "HTTP_X_6");
    }
}
