//! Request heads: find the end of the head incrementally, parse it once with
//! `httparse`, then apply RFC 9112's framing rules.
//!
//! # Why httparse and not hyper's server connection
//! hyper's `server::conn` owns the socket and the connection loop. fcgi-node
//! needs its own loop on Tokio so that HTTP shares the accept loop, the JS
//! dispatch queue (one threadsafe function, batched wake-ups) and the write
//! path (one buffer, one writev per flush) with FastCGI, and hands JS a flat
//! params buffer rather than an `http::Request` with a `HeaderMap` (one
//! allocation per header). A pure codec is also what can be fuzzed and
//! property-tested without sockets, as fcgi-proto is. httparse is the parser
//! hyper itself uses: SIMD, zero-copy, no allocation.
//!
//! Measured on the project's 2-core machine (shared, so ±30 %; best runs):
//! `cargo bench -p fcgi-http --bench parse` — a wrk request (40 B) parses in
//! ≈ 160 ns (httparse alone ≈ 65 ns; the rest is the end-of-head scan and
//! the RFC 9112 checks), a 12-header browser request (435 B) in ≈ 400 ns
//! (httparse ≈ 210 ns); CGI params add ≈ 250 ns and ≈ 800 ns; a response
//! head with a small body encodes in ≈ 70 ns. For comparison, hyper 1.x
//! `http1::Builder::serve_connection` over an in-memory tokio duplex, 64
//! pipelined wrk requests per write, costs ≈ 690 ns per request (client
//! side included) where parsing the same requests and encoding the same
//! response with this crate costs ≈ 170 ns.
//!
//! # Incremental, linear-time parsing
//! [`RequestParser::parse`] may be called with the same (growing) buffer
//! after every read. It remembers how far it has looked for line ends, so a
//! head trickled in one byte at a time costs O(n) in total, not O(n²), and
//! httparse runs exactly once, on the complete head. While the head is
//! incomplete only the limits are checked (414, 431).

use std::mem::MaybeUninit;

use memchr::memchr;

use crate::chars::{is_host_char, is_tchar};
use crate::error::HttpError;
use crate::limits::Limits;
use crate::response::ResponseContext;

/// The two versions this server speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    Http10,
    #[default]
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http10 => "HTTP/1.0",
            Self::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BodyKind {
    /// No body: no Content-Length and no Transfer-Encoding, or
    /// `Content-Length: 0`.
    #[default]
    Empty,
    /// Exactly this many bytes (> 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Outcome of [`RequestParser::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The head is not complete yet: read more and call again with the same
    /// buffer, grown.
    Partial,
    /// The head is the first `consumed` bytes of the buffer (leading empty
    /// lines included); the body, if any, starts right after. Read the head
    /// with [`RequestParser::request`] before dropping those bytes.
    Complete { consumed: usize },
}

/// Start and end offsets of a slice of the input buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(buf: &[u8], part: &[u8]) -> Self {
        // Both point into `buf` (httparse returns sub-slices of its input);
        // comparing addresses is safe code.
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        Self {
            start,
            end: start + part.len(),
        }
    }

    fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.start..self.end]
    }
}

/// A parsed head, as offsets into the buffer it was parsed from; read it
/// through [`Request`]. Owned by the parser and reused across requests, so
/// parsing does not allocate once the header vector has grown.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestHead {
    method: Span,
    target: Span,
    version: Version,
    fields: Vec<(Span, Span)>,
    host: Option<usize>,
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    is_head: bool,
    len: usize,
}

/// How far the search for the end of the head has come.
#[derive(Clone, Copy, Debug, Default)]
struct Scan {
    /// Next byte to look at.
    pos: usize,
    /// First byte of the request line, once the leading empty lines are past.
    start: Option<usize>,
    /// First byte of the line being scanned.
    line_start: usize,
    /// Set once the request line's CRLF has been seen.
    request_line_done: bool,
    /// Complete header lines so far.
    header_lines: usize,
    /// The request line's first space, once seen.
    first_space: Option<usize>,
    /// Method bytes checked so far (while no space is seen).
    method_pos: usize,
    /// The request-target ended within the length limit.
    target_checked: bool,
}

/// Parses request heads for one connection. See the crate docs for the loop.
#[derive(Clone, Debug)]
pub struct RequestParser {
    limits: Limits,
    scan: Scan,
    head: RequestHead,
}

/// Header storage for httparse on the stack when the head has at most this
/// many lines (nearly always); a vector otherwise.
const STACK_HEADERS: usize = 32;

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            scan: Scan::default(),
            head: RequestHead::default(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets a partially scanned head (call it if the buffer was replaced
    /// by unrelated bytes; not needed between requests).
    pub fn reset(&mut self) {
        self.scan = Scan::default();
    }

    /// Looks for a request head at the front of `buf`.
    ///
    /// Call after every read with the whole unconsumed buffer (its front must
    /// not change between `Partial` calls). An `Err` is final for the
    /// connection: answer with its status and close.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Status, HttpError> {
        if buf.len() < self.scan.pos {
            self.scan = Scan::default();
        }
        let result = self.step(buf);
        if !matches!(result, Ok(Status::Partial)) {
            self.scan = Scan::default();
        }
        result
    }

    /// The request just parsed (after [`Status::Complete`]), read from the
    /// same buffer. Panics if `buf` is shorter than the head.
    pub fn request<'a>(&'a self, buf: &'a [u8]) -> Request<'a> {
        assert!(
            buf.len() >= self.head.len,
            "not the buffer the head came from"
        );
        Request {
            head: &self.head,
            buf,
        }
    }

    /// Checks the head in byte order, so that the error reported is the one
    /// the earliest byte triggers, however the input was split into reads:
    /// leading empty lines, method bytes, target length, then line ends
    /// (bare LF, header count, the empty line), and the head limit.
    fn step(&mut self, buf: &[u8]) -> Result<Status, HttpError> {
        let limits = &self.limits;
        // Never look past the limit: a head must end within it.
        let window = &buf[..buf.len().min(limits.max_head_bytes)];
        let scan = &mut self.scan;
        let start = match scan.start {
            Some(start) => start,
            None => {
                // RFC 9112 §2.2: ignore empty lines before the request line
                // (CRLF, and bare LF as node:http does).
                let mut p = scan.pos;
                loop {
                    match window.get(p) {
                        None => {
                            scan.pos = p;
                            return Self::incomplete(buf, limits);
                        }
                        Some(b'\n') => p += 1,
                        Some(b'\r') => match window.get(p + 1) {
                            None => {
                                scan.pos = p;
                                return Self::incomplete(buf, limits);
                            }
                            Some(b'\n') => p += 2,
                            Some(_) => return Err(HttpError::BareLineFeed),
                        },
                        Some(_) => {
                            scan.start = Some(p);
                            scan.line_start = p;
                            scan.pos = p;
                            scan.method_pos = p;
                            break p;
                        }
                    }
                }
            }
        };
        let first_space = match scan.first_space {
            Some(space) => space,
            None => {
                // Method bytes are checked as they come: TLS or binary on the
                // HTTP port is refused at its first byte, not at the limit.
                let from = scan.method_pos;
                match window[from..].iter().position(|&b| !is_tchar(b)) {
                    Some(i) if window[from + i] == b' ' && from + i > start => {
                        scan.first_space = Some(from + i);
                        from + i
                    }
                    Some(_) => return Err(HttpError::BadRequestLine),
                    None => {
                        scan.method_pos = window.len();
                        return Self::incomplete(buf, limits);
                    }
                }
            }
        };
        if !scan.target_checked {
            // The target is refused once too long, before its line ends.
            let rest = &window[first_space + 1..];
            let end = memchr::memchr3(b' ', b'\r', b'\n', rest);
            if end.unwrap_or(rest.len()) > limits.max_target_bytes {
                return Err(HttpError::UriTooLong);
            }
            if end.is_none() {
                return Self::incomplete(buf, limits);
            }
            scan.target_checked = true;
        }
        while let Some(offset) = memchr(b'\n', &window[scan.pos..]) {
            let lf = scan.pos + offset;
            // Bare LF is rejected (node:http does too): a front end that
            // splits lines on LF alone would see different headers than us.
            if lf == scan.line_start || window[lf - 1] != b'\r' {
                return Err(HttpError::BareLineFeed);
            }
            let next = lf + 1;
            if !scan.request_line_done {
                scan.request_line_done = true;
            } else if lf - 1 == scan.line_start {
                return self.complete(buf, start, next);
            } else {
                scan.header_lines += 1;
                if scan.header_lines > limits.max_headers {
                    return Err(HttpError::TooManyHeaders);
                }
            }
            scan.line_start = next;
            scan.pos = next;
        }
        scan.pos = window.len();
        Self::incomplete(buf, limits)
    }

    /// No end of head in the window: wait, unless the limit is passed.
    fn incomplete(buf: &[u8], limits: &Limits) -> Result<Status, HttpError> {
        if buf.len() > limits.max_head_bytes {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(Status::Partial)
    }

    /// `buf[..end]` is a whole head whose request line starts at `start`.
    fn complete(&mut self, buf: &[u8], start: usize, end: usize) -> Result<Status, HttpError> {
        let head_bytes = &buf[..end];
        let lines = self.scan.header_lines;
        let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        let mut heap;
        let storage: &mut [MaybeUninit<httparse::Header<'_>>] = if lines <= STACK_HEADERS {
            &mut stack[..lines]
        } else {
            heap = vec![MaybeUninit::uninit(); lines];
            &mut heap
        };
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(head_bytes, storage) {
            Ok(httparse::Status::Complete(n)) if n == end => {}
            // The scan found the end, so httparse must agree; be defensive.
            Ok(_) => return Err(HttpError::BadRequestLine),
            Err(e) => {
                // httparse accepts only HTTP/1.0 and 1.1: tell a version we do
                // not speak (505) from a malformed line (400).
                check_version(request_line(head_bytes, start))?;
                return Err(map_httparse_error(e, head_bytes, start));
            }
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(HttpError::BadRequestLine);
        };
        let head = &mut self.head;
        head.method = Span::of(buf, method.as_bytes());
        head.target = Span::of(buf, target.as_bytes());
        head.version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        head.fields.clear();
        head.fields.extend(
            req.headers
                .iter()
                .map(|h| (Span::of(buf, h.name.as_bytes()), Span::of(buf, h.value))),
        );
        head.len = end;
        check_target(method.as_bytes(), target.as_bytes(), &self.limits)?;
        apply_framing(head, buf, &self.limits)?;
        Ok(Status::Complete { consumed: end })
    }
}

/// The request line (without CRLF) of a complete head.
fn request_line(head: &[u8], start: usize) -> &[u8] {
    let line = &head[start..];
    let end = memchr(b'\n', line).unwrap_or(line.len());
    line[..end].strip_suffix(b"\r").unwrap_or(&line[..end])
}

/// 505 for a well-formed version we do not speak (`HTTP/2.0`, `HTTP/0.9`,
/// `HTTP/1.2`); anything else is left to httparse (400 if malformed), such
/// as `HTTP/1.10` or `HTTP/10.0`: RFC 9112 §2.3 has one digit on each side.
fn check_version(line: &[u8]) -> Result<(), HttpError> {
    let Some(space) = memchr::memrchr(b' ', line) else {
        return Ok(());
    };
    let version = &line[space + 1..];
    if version == b"HTTP/1.1" || version == b"HTTP/1.0" {
        return Ok(());
    }
    let Some(number) = version.strip_prefix(b"HTTP/") else {
        return Ok(());
    };
    match number {
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Err(HttpError::VersionNotSupported)
        }
        _ => Ok(()),
    }
}

fn map_httparse_error(error: httparse::Error, head: &[u8], start: usize) -> HttpError {
    use httparse::Error as E;
    match error {
        E::HeaderName => {
            // A line that starts with whitespace is obs-fold (or whitespace
            // before the first header); say so.
            let folded = memchr::memchr_iter(b'\n', head)
                .any(|lf| matches!(head.get(lf + 1), Some(b' ' | b'\t')));
            if folded {
                HttpError::ObsFold
            } else {
                HttpError::BadHeaderName
            }
        }
        E::HeaderValue => HttpError::BadHeaderValue,
        E::NewLine => {
            let line = request_line(head, start);
            if memchr(b'\r', line).is_none()
                && !line.ends_with(b" HTTP/1.1")
                && !line.ends_with(b" HTTP/1.0")
            {
                // Something after the version: `GET / HTTP/1.1 x`.
                HttpError::BadRequestLine
            } else {
                // A CR not followed by LF (in the request line, or starting a
                // header line).
                HttpError::BareLineFeed
            }
        }
        E::TooManyHeaders => HttpError::TooManyHeaders,
        E::Token | E::Version | E::Status => HttpError::BadRequestLine,
    }
}

/// Request-target checks (RFC 9112 §3.2): length, ASCII, form.
fn check_target(method: &[u8], target: &[u8], limits: &Limits) -> Result<(), HttpError> {
    if target.len() > limits.max_target_bytes {
        return Err(HttpError::UriTooLong);
    }
    if method == b"CONNECT" {
        return Err(HttpError::MethodNotImplemented);
    }
    if !target.is_ascii() {
        return Err(HttpError::BadTarget);
    }
    match target.first() {
        Some(b'/') => Ok(()),
        Some(b'*') if target == b"*" && method == b"OPTIONS" => Ok(()),
        _ if is_absolute_form(target) => Ok(()),
        _ => Err(HttpError::BadTarget),
    }
}

/// `scheme "://" ...`, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_absolute_form(target: &[u8]) -> bool {
    let Some(colon) = memchr(b':', target) else {
        return false;
    };
    let scheme = &target[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && target[colon..].starts_with(b"://")
}

/// Splits a comma-separated header list into trimmed, non-empty elements.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Content-Length = 1*DIGIT, at most u64.
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() {
        return Err(HttpError::BadContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(HttpError::BadContentLength);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(HttpError::BadContentLength)
    })
}

/// RFC 9112 §6 framing, Host, Connection and Expect.
fn apply_framing(head: &mut RequestHead, buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    let mut content_length = None;
    let mut content_lengths = 0;
    // Transfer-Encoding over all its lines: codings seen, and whether the
    // last one so far is chunked.
    let mut te_codings = 0usize;
    let mut te_chunked_last = false;
    let mut te_chunked_seen = false;
    let mut te_other = false;
    let mut te_lines = 0;
    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    let mut expect_other = false;
    head.host = None;
    for (i, &(name, value)) in head.fields.iter().enumerate() {
        let name = name.get(buf);
        let value = value.get(buf);
        if name.eq_ignore_ascii_case(b"content-length") {
            content_lengths += 1;
            content_length = Some(parse_content_length(value));
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_lines += 1;
            for coding in list_elements(value) {
                te_codings += 1;
                if te_chunked_last {
                    // Something after chunked: the length is unknowable.
                    return Err(HttpError::BadTransferEncoding);
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    if te_chunked_seen {
                        return Err(HttpError::BadTransferEncoding);
                    }
                    te_chunked_seen = true;
                    te_chunked_last = true;
                } else {
                    // transfer-coding = token *( OWS ";" OWS parameter )
                    let name = coding.split(|&b| b == b';').next().unwrap_or_default();
                    let name = trim_ows(name);
                    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                        return Err(HttpError::BadTransferEncoding);
                    }
                    te_other = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if hosts == 1 {
                head.host = Some(i);
            }
            if !value.iter().all(|&b| is_host_char(b)) {
                return Err(HttpError::BadHost);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in list_elements(value) {
                if option.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if option.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            for expectation in list_elements(value) {
                if expectation.eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    expect_other = true;
                }
            }
        }
    }

    if content_lengths > 1 {
        return Err(HttpError::DuplicateContentLength);
    }
    let content_length = content_length.transpose()?;
    if te_lines > 0 {
        if te_codings == 0 || !te_chunked_last {
            return Err(HttpError::BadTransferEncoding);
        }
        if content_length.is_some() {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        if te_other {
            return Err(HttpError::UnsupportedTransferCoding);
        }
    }
    let http11 = head.version == Version::Http11;
    match hosts {
        0 if http11 => return Err(HttpError::MissingHost),
        0 | 1 => {}
        _ => return Err(HttpError::DuplicateHost),
    }
    // RFC 9110 §10.1.1: a server MUST ignore 100-continue in HTTP/1.0.
    if http11 && expect_other {
        return Err(HttpError::ExpectationFailed);
    }

    head.body = match (te_lines > 0, content_length) {
        (true, _) => BodyKind::Chunked,
        (false, Some(0) | None) => BodyKind::Empty,
        (false, Some(n)) => BodyKind::Length(n),
    };
    if let BodyKind::Length(n) = head.body {
        if n > limits.max_body_bytes {
            return Err(HttpError::BodyTooLarge);
        }
    }
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: decode
    // it, then close.
    head.keep_alive = if http11 {
        !close
    } else {
        keep_alive && !close && te_lines == 0
    };
    head.expect_continue = http11 && expect_continue && head.body != BodyKind::Empty;
    head.is_head = head.method.get(buf) == b"HEAD";
    Ok(())
}

/// A parsed request head, borrowing the input buffer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    head: &'a RequestHead,
    buf: &'a [u8],
}

impl<'a> Request<'a> {
    /// The method token, case preserved (`GET`, `PROPFIND`, anything that is
    /// a token).
    pub fn method(&self) -> &'a str {
        ascii(self.head.method.get(self.buf))
    }

    /// The request-target exactly as sent (`/a%20b?x=1`): REQUEST_URI.
    pub fn target(&self) -> &'a str {
        ascii(self.head.target.get(self.buf))
    }

    /// The target up to the first `?`.
    pub fn path(&self) -> &'a str {
        let target = self.target();
        target.split_once('?').map_or(target, |(path, _)| path)
    }

    /// The target after the first `?`, if there is one.
    pub fn query(&self) -> Option<&'a str> {
        self.target().split_once('?').map(|(_, query)| query)
    }

    pub fn version(&self) -> Version {
        self.head.version
    }

    /// Header lines in order, names as sent (case preserved), values without
    /// surrounding whitespace. Values may hold obs-text (bytes >= 0x80).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + 'a {
        let buf = self.buf;
        self.head
            .fields
            .iter()
            .map(move |&(name, value)| (ascii(name.get(buf)), value.get(buf)))
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.head.fields.len()
    }

    /// Header line `i` (name, value). Panics if `i >= header_count()`.
    pub fn header_at(&self, i: usize) -> (&'a str, &'a [u8]) {
        let (name, value) = self.field(i);
        (ascii(name), value)
    }

    /// Header line `i` as bytes (no UTF-8 check).
    pub(crate) fn field(&self, i: usize) -> (&'a [u8], &'a [u8]) {
        let (name, value) = self.head.fields[i];
        (name.get(self.buf), value.get(self.buf))
    }

    pub(crate) fn method_bytes(&self) -> &'a [u8] {
        self.head.method.get(self.buf)
    }

    pub(crate) fn target_bytes(&self) -> &'a [u8] {
        self.head.target.get(self.buf)
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The Host header's value (HTTP/1.1 always has exactly one).
    pub fn host(&self) -> Option<&'a [u8]> {
        self.head.host.map(|i| self.head.fields[i].1.get(self.buf))
    }

    /// How the body is delimited; hand it to [`BodyDecoder::new`](crate::BodyDecoder::new).
    pub fn body(&self) -> BodyKind {
        self.head.body
    }

    /// Whether the connection may carry another request after this one
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`; never after HTTP/1.0 with Transfer-Encoding).
    pub fn keep_alive(&self) -> bool {
        self.head.keep_alive
    }

    /// HTTP/1.1 `Expect: 100-continue` on a request with a body: send
    /// [`CONTINUE`](crate::CONTINUE) before reading the body (unless the
    /// final response goes out first, or the body is already buffered).
    pub fn expect_continue(&self) -> bool {
        self.head.expect_continue
    }

    /// `HEAD`: the response must carry no body.
    pub fn is_head(&self) -> bool {
        self.head.is_head
    }

    /// Bytes of the head (what `Status::Complete` reported).
    pub fn head_len(&self) -> usize {
        self.head.len
    }

    /// What the response encoder needs to know about this request. Fill in
    /// `date` and `keep_alive_timeout`; clear `keep_alive` when draining.
    pub fn response_context(&self) -> ResponseContext<'static> {
        ResponseContext {
            version: self.head.version,
            head_request: self.head.is_head,
            keep_alive: self.head.keep_alive,
            date: None,
            keep_alive_timeout: None,
        }
    }
}

/// Method, target and header names are validated tokens / ASCII.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Whether the bytes left unparsed when the client's FIN came are a request
/// head cut short ([`HttpError::TruncatedHead`], 400, as node:http answers)
/// rather than blank lines between requests, which are no head at all.
pub fn head_cut_short(unparsed: &[u8]) -> bool {
    unparsed.iter().any(|&b| b != b'\r' && b != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Status, HttpError> {
        RequestParser::new(Limits::default()).parse(input)
    }

    fn limits() -> Limits {
        Limits {
            max_target_bytes: 64,
            max_head_bytes: 256,
            max_headers: 4,
            max_body_bytes: 1000,
            ..Limits::default()
        }
    }

    #[test]
    fn simple_get() {
        let input = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\nNEXT";
        let mut p = RequestParser::new(Limits::default());
        assert_eq!(
            p.parse(input),
            Ok(Status::Complete {
                consumed: input.len() - 4
            })
        );
        let r = p.request(input);
        assert_eq!(r.method(), "GET");
        assert_eq!(r.target(), "/a%20b?x=1");
        assert_eq!(r.path(), "/a%20b");
        assert_eq!(r.query(), Some("x=1"));
        assert_eq!(r.version(), Version::Http11);
        assert_eq!(r.host(), Some(&b"example.com"[..]));
        assert_eq!(r.header("x-a"), Some(&b"v"[..]));
        assert_eq!(r.header_count(), 2);
        assert_eq!(r.body(), BodyKind::Empty);
        assert!(r.keep_alive());
        assert!(!r.expect_continue());
        assert!(!r.is_head());
        assert_eq!(r.head_len(), input.len() - 4);
    }

    #[test]
    fn partial_until_the_empty_line() {
        let input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut p = RequestParser::new(Limits::default());
        for cut in 0..input.len() {
            assert_eq!(p.parse(&input[..cut]), Ok(Status::Partial), "cut {cut}");
        }
        assert_eq!(
            p.parse(input),
            Ok(Status::Complete {
                consumed: input.len()
            })
        );
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        for input in [
            &b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let mut p = RequestParser::new(Limits::default());
            assert_eq!(
                p.parse(input),
                Ok(Status::Complete {
                    consumed: input.len()
                })
            );
            assert_eq!(p.request(input).target(), "/");
        }
        assert_eq!(parse(b"\r\r\nGET"), Err(HttpError::BareLineFeed));
        assert_eq!(parse(b"\r\n\r"), Ok(Status::Partial));
    }

    #[test]
    fn versions() {
        let p = |s: &str| parse(s.as_bytes());
        assert!(p("GET / HTTP/1.0\r\n\r\n").is_ok());
        for v in ["HTTP/2.0", "HTTP/3.1", "HTTP/0.9", "HTTP/1.2", "HTTP/9.9"] {
            assert_eq!(
                p(&format!("GET / {v}\r\nHost: x\r\n\r\n")),
                Err(HttpError::VersionNotSupported),
                "{v}"
            );
        }
        for bad in [
            "GET /\r\n\r\n",
            "GET / http/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n",
            "GET / HTTP/x.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.10\r\nHost: x\r\n\r\n",
            "GET / HTTP/10.0\r\nHost: x\r\n\r\n",
            "HELLO THERE\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
            " GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(p(bad), Err(HttpError::BadRequestLine), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        let p = |s: &str| parse(s.as_bytes());
        assert!(p("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        assert!(p("GET http://h/p?q HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        assert!(p("GET /a\"<>{}|\\^`b HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        for bad in [
            "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET abc HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET h:80 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET 1http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(p(bad), Err(HttpError::BadTarget), "{bad:?}");
        }
        assert_eq!(
            parse(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Err(HttpError::BadTarget)
        );
        // Not UTF-8, so httparse already refuses it.
        assert_eq!(
            parse(b"GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Err(HttpError::BadRequestLine)
        );
        for ctl in ["\t", "\x01", "\x7f"] {
            assert_eq!(
                p(&format!("GET /a{ctl}b HTTP/1.1\r\nHost: x\r\n\r\n")),
                Err(HttpError::BadRequestLine)
            );
        }
        assert_eq!(
            p("CONNECT h:80 HTTP/1.1\r\nHost: h\r\n\r\n"),
            Err(HttpError::MethodNotImplemented)
        );
    }

    #[test]
    fn any_token_is_a_method() {
        let input = b"PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut p = RequestParser::new(Limits::default());
        p.parse(input).unwrap();
        assert_eq!(p.request(input).method(), "PROPFIND");
        let input = b"get / HTTP/1.1\r\nHost: x\r\n\r\n";
        p.parse(input).unwrap();
        assert_eq!(p.request(input).method(), "get");
        let input = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
        p.parse(input).unwrap();
        assert!(p.request(input).is_head());
    }

    #[test]
    fn header_syntax() {
        let p = |s: &str| parse(s.as_bytes());
        let with = |h: &str| p(&format!("GET / HTTP/1.1\r\nHost: x\r\n{h}\r\n\r\n"));
        assert_eq!(with("X-A : a"), Err(HttpError::BadHeaderName));
        assert_eq!(with("X-A\t: a"), Err(HttpError::BadHeaderName));
        assert_eq!(with(": a"), Err(HttpError::BadHeaderName));
        assert_eq!(with("X(A): a"), Err(HttpError::BadHeaderName));
        assert_eq!(with("XA"), Err(HttpError::BadHeaderName));
        assert_eq!(with("X-A: a\x01b"), Err(HttpError::BadHeaderValue));
        assert_eq!(with("X-A: a\x7fb"), Err(HttpError::BadHeaderValue));
        assert_eq!(with("X-A: a\x00b"), Err(HttpError::BadHeaderValue));
        assert_eq!(with("X-A: a\rb"), Err(HttpError::BadHeaderValue));
        assert_eq!(with("X-A: a\r\n  b"), Err(HttpError::ObsFold));
        assert_eq!(with("X-A: a\r\n\tb"), Err(HttpError::ObsFold));
        assert_eq!(
            p("GET / HTTP/1.1\r\n Host: x\r\n\r\n"),
            Err(HttpError::ObsFold)
        );
        assert!(with("X-A: a\tb\t").is_ok());
        assert!(with("X-A:").is_ok());
        assert!(with("X-A:   ").is_ok());
        let input = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xe9\xff\r\n\r\n";
        let mut parser = RequestParser::new(Limits::default());
        parser.parse(input).unwrap();
        assert_eq!(parser.request(input).header("X-A"), Some(&b"\xe9\xff"[..]));
    }

    #[test]
    fn bare_lf_and_cr() {
        for bad in [
            &b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(HttpError::BareLineFeed), "{bad:?}");
        }
        // Caught as soon as the line ends, without waiting for the head.
        assert_eq!(parse(b"GET / HTTP/1.1\nHo"), Err(HttpError::BareLineFeed));
    }

    #[test]
    fn host_rules() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p("GET / HTTP/1.1\r\n\r\n"), Err(HttpError::MissingHost));
        assert!(p("GET / HTTP/1.0\r\n\r\n").is_ok());
        assert!(p("GET / HTTP/1.1\r\nHost:\r\n\r\n").is_ok());
        assert!(p("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").is_ok());
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n"),
            Err(HttpError::DuplicateHost)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Err(HttpError::BadHost)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            Err(HttpError::BadHost)
        );
    }

    fn body_of(s: &str) -> Result<BodyKind, HttpError> {
        let mut p = RequestParser::new(limits());
        p.parse(s.as_bytes())?;
        Ok(p.request(s.as_bytes()).body())
    }

    #[test]
    fn content_length() {
        let cl = |v: &str| {
            body_of(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n"
            ))
        };
        assert_eq!(cl("3"), Ok(BodyKind::Length(3)));
        assert_eq!(cl("  3  "), Ok(BodyKind::Length(3)));
        assert_eq!(cl("03"), Ok(BodyKind::Length(3)));
        assert_eq!(cl("0"), Ok(BodyKind::Empty));
        for bad in [
            "+3",
            "-1",
            "3,3",
            "3 3",
            "0x3",
            "",
            "3a",
            "99999999999999999999999",
        ] {
            assert_eq!(cl(bad), Err(HttpError::BadContentLength), "{bad:?}");
        }
        assert_eq!(cl("1001"), Err(HttpError::BodyTooLarge));
        assert_eq!(cl("1000"), Ok(BodyKind::Length(1000)));
        for dup in ["3\r\nContent-Length: 3", "3\r\ncontent-length: 4"] {
            assert_eq!(cl(dup), Err(HttpError::DuplicateContentLength));
        }
    }

    #[test]
    fn transfer_encoding() {
        let te = |v: &str| {
            body_of(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {v}\r\n\r\n"
            ))
        };
        assert_eq!(te("chunked"), Ok(BodyKind::Chunked));
        assert_eq!(te("Chunked"), Ok(BodyKind::Chunked));
        assert_eq!(te(" chunked "), Ok(BodyKind::Chunked));
        assert_eq!(te(",chunked,"), Ok(BodyKind::Chunked));
        for bad in [
            "gzip",
            "chunked, gzip",
            "chunked, chunked",
            "chunked;a=b",
            "identity",
            "",
            " , ",
            "chu nked",
            "\"chunked\"",
        ] {
            assert_eq!(te(bad), Err(HttpError::BadTransferEncoding), "{bad:?}");
        }
        assert_eq!(
            te("gzip, chunked"),
            Err(HttpError::UnsupportedTransferCoding)
        );
        assert_eq!(
            te("chunked\r\nTransfer-Encoding: chunked"),
            Err(HttpError::BadTransferEncoding)
        );
        assert_eq!(
            te("gzip\r\nTransfer-Encoding: chunked"),
            Err(HttpError::UnsupportedTransferCoding)
        );
        assert_eq!(
            te("chunked\r\nContent-Length: 3"),
            Err(HttpError::ContentLengthWithTransferEncoding)
        );
        assert_eq!(
            body_of("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HttpError::ContentLengthWithTransferEncoding)
        );
    }

    fn keep_alive_of(s: &str) -> bool {
        let mut p = RequestParser::new(Limits::default());
        p.parse(s.as_bytes()).unwrap();
        p.request(s.as_bytes()).keep_alive()
    }

    #[test]
    fn keep_alive_decision() {
        assert!(keep_alive_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!keep_alive_of(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(!keep_alive_of(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n\r\n"
        ));
        assert!(!keep_alive_of(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n"
        ));
        assert!(!keep_alive_of(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"
        ));
        assert!(keep_alive_of(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n"
        ));
        assert!(!keep_alive_of("GET / HTTP/1.0\r\n\r\n"));
        assert!(keep_alive_of(
            "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        ));
        assert!(!keep_alive_of(
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        ));
        // HTTP/1.0 with Transfer-Encoding: decoded, then closed.
        let s = "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(!keep_alive_of(s));
        assert_eq!(body_of(s), Ok(BodyKind::Chunked));
    }

    #[test]
    fn expect() {
        let parse_expect = |s: &str| -> Result<bool, HttpError> {
            let mut p = RequestParser::new(Limits::default());
            p.parse(s.as_bytes())?;
            Ok(p.request(s.as_bytes()).expect_continue())
        };
        let post = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n";
        assert_eq!(
            parse_expect(&format!("{post}Expect: 100-continue\r\n\r\n")),
            Ok(true)
        );
        assert_eq!(
            parse_expect(&format!("{post}Expect: 100-Continue\r\n\r\n")),
            Ok(true)
        );
        assert_eq!(parse_expect(&format!("{post}\r\n")), Ok(false));
        assert_eq!(
            parse_expect(&format!("{post}Expect: foo\r\n\r\n")),
            Err(HttpError::ExpectationFailed)
        );
        // No body: nothing to wait for.
        assert_eq!(
            parse_expect("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"),
            Ok(false)
        );
        // HTTP/1.0: ignored, whatever it says.
        assert_eq!(
            parse_expect("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"),
            Ok(false)
        );
        assert_eq!(
            parse_expect("POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: foo\r\n\r\n"),
            Ok(false)
        );
    }

    #[test]
    fn limits_while_partial_and_complete() {
        let mut p = RequestParser::new(limits());
        // A target over the limit is refused before its line ends.
        let long = format!("GET /{}", "u".repeat(64));
        assert_eq!(p.parse(&long.as_bytes()[..60]), Ok(Status::Partial));
        assert_eq!(p.parse(long.as_bytes()), Err(HttpError::UriTooLong));
        let ok = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(63));
        assert!(p.parse(ok.as_bytes()).is_ok());
        let over = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(64));
        assert_eq!(p.parse(over.as_bytes()), Err(HttpError::UriTooLong));
        // Head size: 256 bytes at most, complete or not.
        let head = |n: usize| format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "h".repeat(n));
        let exact = head(256 - head(0).len());
        assert_eq!(exact.len(), 256);
        assert!(p.parse(exact.as_bytes()).is_ok());
        let over = head(257 - head(0).len());
        assert_eq!(p.parse(over.as_bytes()), Err(HttpError::HeadTooLarge));
        let unfinished = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "h".repeat(300));
        assert_eq!(p.parse(unfinished.as_bytes()), Err(HttpError::HeadTooLarge));
        assert_eq!(p.parse(&over.as_bytes()[..256]), Ok(Status::Partial));
        // Header count: 4 at most; the fifth line is refused as it ends.
        let many = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
            for i in 1..n {
                s.push_str(&format!("X{i}: v\r\n"));
            }
            s
        };
        assert!(p.parse(format!("{}\r\n", many(4)).as_bytes()).is_ok());
        assert_eq!(p.parse(many(5).as_bytes()), Err(HttpError::TooManyHeaders));
    }

    #[test]
    fn many_headers_use_the_heap_storage() {
        let mut s = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..100 {
            s.push_str(&format!("X-{i}: {i}\r\n"));
        }
        s.push_str("\r\n");
        let mut p = RequestParser::new(Limits::default());
        assert!(p.parse(s.as_bytes()).is_ok());
        let r = p.request(s.as_bytes());
        assert_eq!(r.header_count(), 101);
        assert_eq!(r.header("x-99"), Some(&b"99"[..]));
    }

    #[test]
    fn pipelined_heads() {
        let input = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut p = RequestParser::new(Limits::default());
        let Ok(Status::Complete { consumed }) = p.parse(input) else {
            panic!()
        };
        assert_eq!(p.request(input).target(), "/1");
        let rest = &input[consumed..];
        assert_eq!(
            p.parse(rest),
            Ok(Status::Complete {
                consumed: rest.len()
            })
        );
        assert_eq!(p.request(rest).target(), "/2");
    }

    #[test]
    fn only_a_started_head_is_cut_short() {
        assert!(head_cut_short(b"GET / HT"));
        assert!(head_cut_short(b"\r\nG"));
        assert!(!head_cut_short(b"\r\n\r\n"));
        assert!(!head_cut_short(b""));
    }
}
