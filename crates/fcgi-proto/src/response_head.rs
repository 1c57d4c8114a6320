//! The CGI response head a FastCGI application writes first on STDOUT:
//! `Status: 200 OK\r\n`, one `Name: value\r\n` line per header, then `\r\n`.
//!
//! The bytes match the js engine's (lib/fastcgi/head.ts and `send` in
//! lib/engines/js/fcgi-connection.ts), which the differential test compares:
//! reason phrases are Node's `http.STATUS_CODES`, a code without one is
//! written bare (`Status: 599`), and a body under [`INLINE_BODY_LIMIT`]
//! shares the head's stream.

use crate::encoder::{stream, OpenRecord};
use crate::record::RecordType;

/// Bodies shorter than this go into the same STDOUT stream as the head (one
/// record for a small response); longer ones start a record of their own.
pub const INLINE_BODY_LIMIT: usize = 16384;

/// Standard reason phrase for `status` (Node's table), `None` for codes
/// without one.
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a Teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// Appends a CGI response head with the standard reason phrase.
///
/// Names and values are written as given: rejecting CR/LF (header injection)
/// is the job of the layer that accepts them from the application.
pub fn write_head<N, V>(buf: &mut Vec<u8>, status: u16, headers: impl IntoIterator<Item = (N, V)>)
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    write_head_with_reason(buf, status, reason_phrase(status), headers);
}

/// Appends a CGI response head with the given reason phrase (none: the
/// status line is the bare code).
pub fn write_head_with_reason<N, V>(
    buf: &mut Vec<u8>,
    status: u16,
    reason: Option<&str>,
    headers: impl IntoIterator<Item = (N, V)>,
) where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    buf.extend_from_slice(b"Status: ");
    push_decimal(buf, status as u64);
    if let Some(reason) = reason {
        buf.push(b' ');
        buf.extend_from_slice(reason.as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        buf.extend_from_slice(name.as_ref());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_ref());
        buf.extend_from_slice(b"\r\n");
    }
    buf.extend_from_slice(b"\r\n");
}

/// Appends the start of a response as STDOUT records: the head (standard
/// reason phrase), then `body`. A body shorter than [`INLINE_BODY_LIMIT`]
/// continues the head's stream (a small response is one record); a longer
/// one starts its own records. The head is built in place, without a
/// scratch buffer. Pass an empty `body` to write the head alone.
pub fn stdout_response<N, V>(
    out: &mut Vec<u8>,
    request_id: u16,
    status: u16,
    headers: impl IntoIterator<Item = (N, V)>,
    body: &[u8],
) where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    // The head and an inline body are one stream: a single record unless
    // they pass 65535 bytes, which `finish` then splits like any stream.
    let open = OpenRecord::begin(out, RecordType::Stdout, request_id);
    write_head(out, status, headers);
    let inline = body.len() < INLINE_BODY_LIMIT;
    if inline {
        out.extend_from_slice(body);
    }
    open.finish(out);
    if !inline {
        stream(out, RecordType::Stdout, request_id, body);
    }
}

/// Appends the decimal digits of `value` without going through `fmt`.
pub(crate) fn push_decimal(buf: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::Records;

    #[test]
    fn head_format() {
        let mut buf = Vec::new();
        write_head(
            &mut buf,
            200,
            [("Content-Type", "text/plain"), ("Set-Cookie", "a=1")],
        );
        assert_eq!(
            buf,
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\r\n"
        );
        buf.clear();
        write_head(&mut buf, 599, std::iter::empty::<(&str, &str)>());
        assert_eq!(buf, b"Status: 599\r\n\r\n");
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(reason_phrase(404), Some("Not Found"));
        assert_eq!(reason_phrase(418), Some("I'm a Teapot"));
        assert_eq!(reason_phrase(431), Some("Request Header Fields Too Large"));
        assert_eq!(reason_phrase(0), None);
        assert_eq!(reason_phrase(299), None);
    }

    #[test]
    fn decimal() {
        for value in [0u64, 7, 10, 200, 65535, u64::MAX] {
            let mut buf = Vec::new();
            push_decimal(&mut buf, value);
            assert_eq!(buf, value.to_string().as_bytes());
        }
    }

    fn stdout_content(out: &[u8]) -> (usize, Vec<u8>) {
        let mut records = 0;
        let mut content = Vec::new();
        for record in Records::new(out) {
            let record = record.unwrap();
            assert_eq!(record.header.record_type, RecordType::Stdout);
            assert_eq!(record.header.request_id, 9);
            records += 1;
            content.extend_from_slice(record.content);
        }
        (records, content)
    }

    #[test]
    fn small_response_is_one_record() {
        let mut out = Vec::new();
        stdout_response(&mut out, 9, 200, [("A", "b")], b"hi");
        assert_eq!(out.len() % 8, 0);
        let (records, content) = stdout_content(&out);
        assert_eq!(records, 1);
        assert_eq!(content, b"Status: 200 OK\r\nA: b\r\n\r\nhi");
    }

    #[test]
    fn body_below_the_inline_limit_shares_the_head_stream() {
        let body = vec![b'z'; INLINE_BODY_LIMIT - 1];
        let mut out = Vec::new();
        stdout_response(&mut out, 9, 200, std::iter::empty::<(&str, &str)>(), &body);
        let (records, content) = stdout_content(&out);
        assert_eq!(records, 1);
        assert_eq!(content.len(), "Status: 200 OK\r\n\r\n".len() + body.len());
    }

    #[test]
    fn larger_body_starts_its_own_records() {
        let body = vec![b'z'; 200_000];
        let mut out = Vec::new();
        stdout_response(&mut out, 9, 201, std::iter::empty::<(&str, &str)>(), &body);
        let mut sizes = Vec::new();
        for record in Records::new(&out) {
            sizes.push(record.unwrap().content.len());
        }
        let head = b"Status: 201 Created\r\n\r\n";
        assert_eq!(
            sizes,
            [head.len(), 65535, 65535, 65535, 200_000 - 3 * 65535]
        );
        let (_, content) = stdout_content(&out);
        assert_eq!(&content[..head.len()], head);
        assert_eq!(&content[head.len()..], &body[..]);
    }

    #[test]
    fn huge_head_still_encodes() {
        let value = "v".repeat(70_000);
        let mut out = Vec::new();
        stdout_response(&mut out, 9, 200, [("X-Big", value.as_str())], b"body");
        let (_, content) = stdout_content(&out);
        assert!(content.ends_with(b"\r\n\r\nbody"));
        assert_eq!(
            content.len(),
            "Status: 200 OK\r\nX-Big: \r\n\r\nbody".len() + 70_000
        );
    }
}
