//! Response encoding into the caller's `Vec<u8>` (append only; reuse the
//! vector and nothing allocates once it has grown).
//!
//! The bytes follow node:http's where they are observable: `HTTP/1.1` status
//! line with Node's reason phrases (`unknown` for codes without one), the
//! handler's headers in order, then `Date`, `Connection`, `Keep-Alive`,
//! and `Content-Length` or `Transfer-Encoding: chunked` last.
//!
//! Framing is decided here, not by the handler: a `Transfer-Encoding` header
//! from the handler is dropped, a valid `Content-Length` from the handler is
//! honoured (and enforced by [`BodyEncoder`]), an invalid one is dropped, and
//! `Connection` is written by us (a handler's `close` is honoured).

use fcgi_proto::response_head::reason_phrase;

use crate::request::Version;

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The end of a chunked body (last chunk, no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What the response depends on besides its own status and headers. Get one
/// from [`Request::response_context`](crate::Request::response_context).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseContext<'a> {
    /// The request's version: HTTP/1.0 gets no chunked encoding.
    pub version: Version,
    /// A HEAD request: no body bytes are ever written.
    pub head_request: bool,
    /// The request allows another one after it; clear it to close (draining,
    /// an unread request body that is not worth reading, ...).
    pub keep_alive: bool,
    /// IMF-fixdate for the `Date` header (see [`DateCache`](crate::DateCache));
    /// `None` writes no Date.
    pub date: Option<&'a [u8]>,
    /// Adds `Keep-Alive: timeout=N` to kept-alive responses, as node:http does.
    pub keep_alive_timeout: Option<u32>,
}

impl Default for ResponseContext<'_> {
    fn default() -> Self {
        Self {
            version: Version::Http11,
            head_request: false,
            keep_alive: true,
            date: None,
            keep_alive_timeout: None,
        }
    }
}

/// What the caller knows about the body when the head goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// The whole body is known (e.g. `res.end(buf)` before any write).
    Known(u64),
    /// The body streams.
    Unknown,
}

impl BodyLength {
    /// node:http's framing for the head that goes out with the response's
    /// first part (`body_len` bytes, or none; `end`: the response ends with
    /// it): a whole response in one call (`res.end(data)`) gets
    /// Content-Length, one that streams is chunked (HTTP/1.1); a
    /// Content-Length the handler set still wins ([`encode_head`]). To a HEAD
    /// request the API sent no body, so its length is unknown.
    pub fn of_first_part(body_len: Option<usize>, end: bool, head_request: bool) -> Self {
        match (body_len, end && !head_request) {
            (Some(n), true) => Self::Known(n as u64),
            (None, true) => Self::Known(0),
            (_, false) => Self::Unknown,
        }
    }
}

/// How body bytes go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body bytes at all: HEAD, 1xx, 204, 304. Writes are discarded.
    NoBody,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// HTTP/1.0 without a known length: the body ends when the connection
    /// closes.
    UntilClose,
}

/// A body write that breaks the framing. The response is damaged: close the
/// connection once what was written is flushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// More bytes than the Content-Length; nothing of this write was written.
    TooLong,
    /// `finish` before all Content-Length bytes were written.
    TooShort,
    /// A write after `finish`.
    Finished,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "response body longer than its Content-Length",
            Self::TooShort => "response body shorter than its Content-Length",
            Self::Finished => "response body written after its end",
        })
    }
}

impl std::error::Error for BodyError {}

/// Frames the body of one response. Returned by [`encode_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyEncoder {
    framing: Framing,
    /// Content-Length bytes still to write.
    remaining: u64,
    keep_alive: bool,
    informational: bool,
    /// A chunk header was written and its CRLF is owed.
    in_chunk: bool,
    finished: bool,
}

impl BodyEncoder {
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Whether the connection can carry another request after this response
    /// (once [`finish`](Self::finish) succeeded). False after a framing error.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// A 1xx head: the final response still has to follow.
    pub fn is_informational(&self) -> bool {
        self.informational
    }

    /// Appends `data` as body bytes (copying it).
    pub fn write(&mut self, out: &mut Vec<u8>, data: &[u8]) -> Result<(), BodyError> {
        if self.begin_data(out, data.len())? {
            out.extend_from_slice(data);
            self.end_data(out);
        }
        Ok(())
    }

    /// For writing `len` body bytes without copying them into `out` (writev):
    /// appends the framing that goes before them and says whether to send
    /// them at all (false for [`Framing::NoBody`] and empty chunks). Call
    /// [`end_data`](Self::end_data) after the bytes.
    pub fn begin_data(&mut self, out: &mut Vec<u8>, len: usize) -> Result<bool, BodyError> {
        if self.finished {
            self.keep_alive = false;
            return Err(BodyError::Finished);
        }
        match self.framing {
            Framing::NoBody => Ok(false),
            Framing::Length(_) => {
                if len as u64 > self.remaining {
                    self.keep_alive = false;
                    return Err(BodyError::TooLong);
                }
                self.remaining -= len as u64;
                Ok(len > 0)
            }
            Framing::Chunked => {
                if len == 0 {
                    // An empty chunk would end the body.
                    return Ok(false);
                }
                push_hex(out, len as u64);
                out.extend_from_slice(b"\r\n");
                self.in_chunk = true;
                Ok(true)
            }
            Framing::UntilClose => Ok(len > 0),
        }
    }

    /// Appends the framing that follows the bytes announced by
    /// [`begin_data`](Self::begin_data) (a chunk's CRLF).
    pub fn end_data(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.in_chunk) {
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Ends the body: the last chunk for chunked, a length check for
    /// Content-Length. Calling it again does nothing.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BodyError> {
        if self.finished {
            return Ok(());
        }
        self.end_data(out);
        self.finished = true;
        match self.framing {
            Framing::Chunked => out.extend_from_slice(LAST_CHUNK),
            Framing::Length(_) if self.remaining > 0 => {
                self.keep_alive = false;
                return Err(BodyError::TooShort);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reason phrase as node:http writes it.
fn reason(status: u16) -> &'static str {
    reason_phrase(status).unwrap_or("unknown")
}

/// Appends a response head and returns the encoder for its body.
///
/// `headers` are the handler's, written in order (names and values must be
/// free of CR/LF: lib/response.ts checks that). `length` is what is known of
/// the body now; a valid `Content-Length` among `headers` takes precedence.
///
/// | response | framing | headers we add |
/// |---|---|---|
/// | 1xx | none; the final response follows | none |
/// | 204 | none | no Content-Length |
/// | 304 | none | the handler's Content-Length, if any |
/// | to HEAD | none | Content-Length if known |
/// | length known | Content-Length | `Content-Length: n` |
/// | HTTP/1.1, streaming | chunked | `Transfer-Encoding: chunked` |
/// | HTTP/1.0, streaming | until close | `Connection: close` |
pub fn encode_head<N, V>(
    out: &mut Vec<u8>,
    status: u16,
    headers: impl IntoIterator<Item = (N, V)>,
    length: BodyLength,
    ctx: &ResponseContext<'_>,
) -> BodyEncoder
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");

    let mut user_length = None;
    let mut user_close = false;
    let mut user_date = false;
    let mut user_keep_alive = false;
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        if name.eq_ignore_ascii_case(b"content-length") {
            if user_length.is_none() {
                user_length = parse_decimal(trim(value));
            }
            continue;
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            continue;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            user_close |= value
                .split(|&b| b == b',')
                .any(|option| trim(option).eq_ignore_ascii_case(b"close"));
            continue;
        }
        user_date |= name.eq_ignore_ascii_case(b"date");
        user_keep_alive |= name.eq_ignore_ascii_case(b"keep-alive");
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }

    if (100..200).contains(&status) {
        out.extend_from_slice(b"\r\n");
        return BodyEncoder {
            framing: Framing::NoBody,
            remaining: 0,
            keep_alive: ctx.keep_alive,
            informational: true,
            in_chunk: false,
            finished: false,
        };
    }

    let declared = user_length.or(match length {
        BodyLength::Known(n) => Some(n),
        BodyLength::Unknown => None,
    });
    let mut keep_alive = ctx.keep_alive && !user_close;
    let (framing, content_length) = if status == 204 {
        (Framing::NoBody, None)
    } else if status == 304 {
        (Framing::NoBody, user_length)
    } else if ctx.head_request {
        (Framing::NoBody, declared)
    } else if let Some(n) = declared {
        (Framing::Length(n), Some(n))
    } else if ctx.version == Version::Http11 {
        (Framing::Chunked, None)
    } else {
        keep_alive = false;
        (Framing::UntilClose, None)
    };

    if let (Some(date), false) = (ctx.date, user_date) {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    if keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
        if let (Some(timeout), false) = (ctx.keep_alive_timeout, user_keep_alive) {
            out.extend_from_slice(b"Keep-Alive: timeout=");
            push_decimal(out, u64::from(timeout));
            out.extend_from_slice(b"\r\n");
        }
    } else {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(n) = content_length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, n);
        out.extend_from_slice(b"\r\n");
    } else if framing == Framing::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");

    BodyEncoder {
        framing,
        remaining: match framing {
            Framing::Length(n) => n,
            _ => 0,
        },
        keep_alive,
        informational: false,
        in_chunk: false,
        finished: false,
    }
}

/// Appends a whole response whose body is known (head, then the body unless
/// the request was HEAD or the status has none). Returns whether the
/// connection stays open.
pub fn encode_response<N, V>(
    out: &mut Vec<u8>,
    status: u16,
    headers: impl IntoIterator<Item = (N, V)>,
    body: &[u8],
    ctx: &ResponseContext<'_>,
) -> Result<bool, BodyError>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut encoder = encode_head(
        out,
        status,
        headers,
        BodyLength::Known(body.len() as u64),
        ctx,
    );
    encoder.write(out, body)?;
    encoder.finish(out)?;
    Ok(encoder.keep_alive())
}

/// Appends the short error response both engines send when they refuse a
/// request: `<Reason Phrase>\n` as text/plain, `Connection: close`. With
/// `date: None` the bytes are exactly those of the js engine's `clientError`
/// answer. Close the connection after writing it.
pub fn error_response(out: &mut Vec<u8>, status: u16, date: Option<&[u8]>) {
    let reason = reason(status);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    push_decimal(out, reason.len() as u64 + 1);
    out.extend_from_slice(b"\r\n");
    if let Some(date) = date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

/// Appends one chunk (size line, data, CRLF); nothing for empty data, which
/// would end the body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    push_hex(out, data.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_hex(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(n & 15) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [(&str, &str); 0] = [];

    fn head(
        status: u16,
        headers: &[(&str, &str)],
        length: BodyLength,
        ctx: &ResponseContext<'_>,
    ) -> (String, BodyEncoder) {
        let mut out = Vec::new();
        let enc = encode_head(&mut out, status, headers.iter().copied(), length, ctx);
        (String::from_utf8(out).unwrap(), enc)
    }

    const DATE: &[u8] = b"Wed, 25 Nov 2026 21:30:02 GMT";

    #[test]
    fn known_length_keep_alive() {
        let ctx = ResponseContext {
            date: Some(DATE),
            keep_alive_timeout: Some(60),
            ..ResponseContext::default()
        };
        let (s, enc) = head(
            200,
            &[("Content-Type", "text/plain")],
            BodyLength::Known(5),
            &ctx,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Wed, 25 Nov 2026 21:30:02 GMT\r\n\
             Connection: keep-alive\r\nKeep-Alive: timeout=60\r\nContent-Length: 5\r\n\r\n"
        );
        assert_eq!(enc.framing(), Framing::Length(5));
        assert!(enc.keep_alive());
    }

    #[test]
    fn streaming_is_chunked_on_1_1_and_close_delimited_on_1_0() {
        let ctx = ResponseContext::default();
        let (s, mut enc) = head(200, &[], BodyLength::Unknown, &ctx);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut out = Vec::new();
        enc.write(&mut out, b"hello").unwrap();
        enc.write(&mut out, b"").unwrap();
        enc.write(&mut out, &[b'x'; 26]).unwrap();
        enc.finish(&mut out).unwrap();
        enc.finish(&mut out).unwrap();
        let expected = format!("5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n", "x".repeat(26));
        assert_eq!(out, expected.as_bytes());
        assert!(enc.keep_alive());
        assert_eq!(enc.write(&mut out, b"late"), Err(BodyError::Finished));
        assert!(!enc.keep_alive());

        let ctx = ResponseContext {
            version: Version::Http10,
            ..ResponseContext::default()
        };
        let (s, mut enc) = head(200, &[], BodyLength::Unknown, &ctx);
        assert_eq!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        assert_eq!(enc.framing(), Framing::UntilClose);
        let mut out = Vec::new();
        enc.write(&mut out, b"ab").unwrap();
        enc.finish(&mut out).unwrap();
        assert_eq!(out, b"ab");
        assert!(!enc.keep_alive());
        // HTTP/1.0 keep-alive with a known length stays open.
        let ctx = ResponseContext {
            version: Version::Http10,
            ..ResponseContext::default()
        };
        let (s, enc) = head(200, &[], BodyLength::Known(2), &ctx);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"
        );
        assert!(enc.keep_alive());
    }

    #[test]
    fn head_and_bodyless_statuses() {
        let head_ctx = ResponseContext {
            head_request: true,
            ..ResponseContext::default()
        };
        let (s, mut enc) = head(
            200,
            &[("Content-Length", "5")],
            BodyLength::Unknown,
            &head_ctx,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n"
        );
        let mut out = Vec::new();
        enc.write(&mut out, b"sized").unwrap();
        enc.finish(&mut out).unwrap();
        assert!(out.is_empty());
        assert!(enc.keep_alive());
        let (s, _) = head(200, &[], BodyLength::Known(3), &head_ctx);
        assert!(s.ends_with("Content-Length: 3\r\n\r\n"));
        let (s, _) = head(200, &[], BodyLength::Unknown, &head_ctx);
        assert_eq!(s, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n");

        let ctx = ResponseContext::default();
        let (s, enc) = head(204, &[("Content-Length", "5")], BodyLength::Known(5), &ctx);
        assert_eq!(
            s,
            "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
        );
        assert_eq!(enc.framing(), Framing::NoBody);
        let (s, _) = head(304, &[("ETag", "\"x\"")], BodyLength::Unknown, &ctx);
        assert_eq!(
            s,
            "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nConnection: keep-alive\r\n\r\n"
        );
        let (s, _) = head(304, &[("Content-Length", "9")], BodyLength::Unknown, &ctx);
        assert!(s.ends_with("Content-Length: 9\r\n\r\n"));
    }

    #[test]
    fn informational() {
        let ctx = ResponseContext {
            date: Some(DATE),
            ..ResponseContext::default()
        };
        let (s, enc) = head(
            103,
            &[("Link", "</a.css>; rel=preload")],
            BodyLength::Unknown,
            &ctx,
        );
        assert_eq!(
            s,
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        );
        assert!(enc.is_informational());
        let mut out = Vec::new();
        encode_head(&mut out, 100, NONE, BodyLength::Unknown, &ctx);
        assert_eq!(out, CONTINUE);
    }

    #[test]
    fn handler_framing_headers() {
        let ctx = ResponseContext {
            date: Some(DATE),
            ..ResponseContext::default()
        };
        // Their Content-Length wins over a known length, and is enforced.
        let (s, mut enc) = head(
            200,
            &[("content-length", " 3 "), ("Transfer-Encoding", "chunked")],
            BodyLength::Known(5),
            &ctx,
        );
        assert!(s.ends_with("Content-Length: 3\r\n\r\n"), "{s}");
        assert!(!s.contains("chunked"));
        let mut out = Vec::new();
        assert_eq!(enc.write(&mut out, b"abcd"), Err(BodyError::TooLong));
        assert!(out.is_empty());
        assert!(!enc.keep_alive());
        // An invalid one is dropped.
        let (s, enc) = head(200, &[("Content-Length", "x")], BodyLength::Unknown, &ctx);
        assert!(s.ends_with("Transfer-Encoding: chunked\r\n\r\n"));
        assert_eq!(enc.framing(), Framing::Chunked);
        // Their Connection: close is honoured; their Date and Keep-Alive kept.
        let ctx = ResponseContext {
            date: Some(DATE),
            keep_alive_timeout: Some(5),
            ..ResponseContext::default()
        };
        let (s, enc) = head(
            200,
            &[("Connection", "Close"), ("Date", "then")],
            BodyLength::Known(0),
            &ctx,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nDate: then\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
        assert!(!enc.keep_alive());
        let (s, _) = head(
            200,
            &[("Keep-Alive", "timeout=9")],
            BodyLength::Known(0),
            &ctx,
        );
        assert!(!s.contains("timeout=5"));
        // Not keep-alive: no Keep-Alive header.
        let ctx = ResponseContext {
            keep_alive: false,
            keep_alive_timeout: Some(5),
            ..ResponseContext::default()
        };
        let (s, _) = head(200, &[], BodyLength::Known(0), &ctx);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn short_body_is_an_error() {
        let ctx = ResponseContext::default();
        let (_, mut enc) = head(200, &[], BodyLength::Known(4), &ctx);
        let mut out = Vec::new();
        enc.write(&mut out, b"ab").unwrap();
        assert_eq!(enc.finish(&mut out), Err(BodyError::TooShort));
        assert!(!enc.keep_alive());
    }

    #[test]
    fn begin_and_end_data_for_writev() {
        let ctx = ResponseContext::default();
        let (_, mut enc) = head(200, &[], BodyLength::Unknown, &ctx);
        let mut out = Vec::new();
        assert_eq!(enc.begin_data(&mut out, 300), Ok(true));
        assert_eq!(out, b"12c\r\n");
        enc.end_data(&mut out);
        enc.end_data(&mut out);
        assert_eq!(out, b"12c\r\n\r\n");
        assert_eq!(enc.begin_data(&mut out, 0), Ok(false));
    }

    #[test]
    fn whole_responses() {
        let mut out = Vec::new();
        let ctx = ResponseContext::default();
        assert_eq!(
            encode_response(&mut out, 404, NONE, b"nope", &ctx),
            Ok(true)
        );
        assert_eq!(
            out,
            b"HTTP/1.1 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nnope"
        );
        out.clear();
        encode_response(&mut out, 599, NONE, b"", &ctx).unwrap();
        assert!(out.starts_with(b"HTTP/1.1 599 unknown\r\n"));
    }

    #[test]
    fn error_responses_match_the_js_engine() {
        let mut out = Vec::new();
        error_response(&mut out, 400, None);
        assert_eq!(
            out,
            &b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
               Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"[..]
        );
        for (status, reason) in [
            (408, "Request Timeout"),
            (413, "Payload Too Large"),
            (414, "URI Too Long"),
            (417, "Expectation Failed"),
            (431, "Request Header Fields Too Large"),
            (501, "Not Implemented"),
            (505, "HTTP Version Not Supported"),
        ] {
            out.clear();
            error_response(&mut out, status, Some(DATE));
            let s = String::from_utf8(out.clone()).unwrap();
            let expected = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nDate: {}\r\nConnection: close\r\n\r\n{reason}\n",
                reason.len() + 1,
                std::str::from_utf8(DATE).unwrap()
            );
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn chunk_helpers() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"");
        assert!(out.is_empty());
        encode_chunk(&mut out, &[0; 4096]);
        assert!(out.starts_with(b"1000\r\n"));
        assert!(out.ends_with(b"\r\n"));
        assert_eq!(out.len(), 6 + 4096 + 2);
        let mut n = Vec::new();
        push_decimal(&mut n, u64::MAX);
        assert_eq!(n, u64::MAX.to_string().as_bytes());
        n.clear();
        push_hex(&mut n, u64::MAX);
        assert_eq!(n, b"ffffffffffffffff");
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"007"), Some(7));
    }

    #[test]
    fn the_first_part_decides_the_length_as_node_http() {
        assert_eq!(
            BodyLength::of_first_part(Some(5), true, false),
            BodyLength::Known(5)
        );
        assert_eq!(
            BodyLength::of_first_part(None, true, false),
            BodyLength::Known(0)
        );
        assert_eq!(
            BodyLength::of_first_part(Some(5), false, false),
            BodyLength::Unknown
        );
        assert_eq!(
            BodyLength::of_first_part(Some(5), true, true),
            BodyLength::Unknown
        );
    }
}
