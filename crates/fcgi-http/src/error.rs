//! Errors as values. Every variant ends the connection: answer it with
//! [`error_response`](crate::error_response)`(out, error.status(), ..)` if no
//! response has started yet, then close (the framing of whatever follows can
//! no longer be trusted). [`HttpError::status`] gives the status code.

use std::fmt;

/// Why a request was refused. Grouped by the status code it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpError {
    // ---- 400 Bad Request ----
    /// The request line is not `method SP request-target SP HTTP-version
    /// CRLF` (HTTP/0.9, garbage, several spaces, a bad method token, ...).
    BadRequestLine,
    /// The request-target is not origin-form (`/...`), absolute-form
    /// (`scheme://...`) or `*` (OPTIONS only), or has non-ASCII bytes.
    BadTarget,
    /// An LF not preceded by CR, or a CR not followed by LF.
    BareLineFeed,
    /// A header name that is not a token, whitespace before the colon, a
    /// line without a colon.
    BadHeaderName,
    /// A control character (other than HTAB) in a header value.
    BadHeaderValue,
    /// A header line starting with whitespace (obs-fold, RFC 9112 §5.2), or
    /// whitespace between the request line and the first header.
    ObsFold,
    /// HTTP/1.1 without a Host header (RFC 9112 §3.2).
    MissingHost,
    /// More than one Host header (RFC 9112 §3.2).
    DuplicateHost,
    /// A Host value with characters a uri-host and port cannot have.
    BadHost,
    /// Content-Length that is not 1*DIGIT (no sign, no list, no overflow).
    BadContentLength,
    /// Two or more Content-Length headers, even with equal values.
    DuplicateContentLength,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.3: smuggling).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked` (RFC 9112
    /// §6.3 item 4 says 400), `chunked` twice, parameters on `chunked`, or an
    /// empty or malformed list.
    BadTransferEncoding,
    /// A chunk-size that is not 1*HEXDIG, overflows 64 bits, or is followed
    /// by anything but `;` or CRLF.
    BadChunkSize,
    /// The connection ended (the client's FIN) before the body did; the
    /// caller reports it, no decoder sees the end of a stream.
    TruncatedBody,
    /// The connection ended in the middle of a request head (see
    /// [`head_cut_short`](crate::head_cut_short)), as node:http answers.
    TruncatedHead,
    /// A control character in a chunk extension, a chunk-size line longer than
    /// `max_chunk_line_bytes`, or chunk data not followed by CRLF.
    BadChunk,
    /// A malformed trailer field line.
    BadTrailer,
    // ---- other statuses ----
    /// The head was not complete within the server's header timeout
    /// (slowloris; 408, as node:http's ERR_HTTP_REQUEST_TIMEOUT).
    HeadTimeout,
    /// The request-target is longer than `max_target_bytes` (414).
    UriTooLong,
    /// The head is longer than `max_head_bytes` (431).
    HeadTooLarge,
    /// More than `max_headers` header lines (431).
    TooManyHeaders,
    /// The trailer section is longer than `max_trailer_bytes` (431).
    TrailersTooLarge,
    /// The body is (or is declared) longer than `max_body_bytes` (413).
    BodyTooLarge,
    /// `HTTP/x.y` other than 1.0 and 1.1 (505).
    VersionNotSupported,
    /// An `Expect` other than `100-continue` on HTTP/1.1 (417, as node:http).
    ExpectationFailed,
    /// CONNECT: this server is not a proxy and opens no tunnels (501).
    MethodNotImplemented,
    /// `Transfer-Encoding: <coding>, chunked` with a coding other than
    /// chunked: we do not decode gzip & co. (RFC 9112 §6.1: 501).
    UnsupportedTransferCoding,
}

impl HttpError {
    /// The status code to answer with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::UriTooLong => 414,
            Self::HeadTooLarge | Self::TooManyHeaders | Self::TrailersTooLarge => 431,
            Self::BodyTooLarge => 413,
            Self::HeadTimeout => 408,
            Self::VersionNotSupported => 505,
            Self::ExpectationFailed => 417,
            Self::MethodNotImplemented | Self::UnsupportedTransferCoding => 501,
            _ => 400,
        }
    }

    const fn description(&self) -> &'static str {
        match self {
            Self::BadRequestLine => "malformed request line",
            Self::BadTarget => "invalid request-target",
            Self::BareLineFeed => "bare LF or CR (lines must end with CRLF)",
            Self::BadHeaderName => "invalid header name",
            Self::BadHeaderValue => "invalid header value",
            Self::ObsFold => "obsolete line folding",
            Self::MissingHost => "HTTP/1.1 request without Host",
            Self::DuplicateHost => "more than one Host header",
            Self::BadHost => "invalid Host header",
            Self::BadContentLength => "invalid Content-Length",
            Self::DuplicateContentLength => "more than one Content-Length header",
            Self::ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            Self::BadTransferEncoding => "Transfer-Encoding does not end with a single chunked",
            Self::BadChunkSize => "invalid chunk size",
            Self::TruncatedBody => "the connection ended in the middle of the body",
            Self::TruncatedHead => "the connection ended in the middle of a request head",
            Self::HeadTimeout => "headers not complete in time",
            Self::BadChunk => "malformed chunk",
            Self::BadTrailer => "malformed trailer field",
            Self::UriTooLong => "request-target too long",
            Self::HeadTooLarge => "request head too large",
            Self::TooManyHeaders => "too many header fields",
            Self::TrailersTooLarge => "trailer section too large",
            Self::BodyTooLarge => "body larger than the limit",
            Self::VersionNotSupported => "HTTP version not supported",
            Self::ExpectationFailed => "unsupported Expect",
            Self::MethodNotImplemented => "CONNECT is not supported",
            Self::UnsupportedTransferCoding => "transfer coding other than chunked",
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.status())
    }
}

impl std::error::Error for HttpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HttpError::BadChunkSize.status(), 400);
        assert_eq!(HttpError::ObsFold.status(), 400);
        assert_eq!(HttpError::UriTooLong.status(), 414);
        assert_eq!(HttpError::TooManyHeaders.status(), 431);
        assert_eq!(HttpError::BodyTooLarge.status(), 413);
        assert_eq!(HttpError::HeadTimeout.status(), 408);
        assert_eq!(HttpError::TruncatedHead.status(), 400);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
        assert_eq!(HttpError::ExpectationFailed.status(), 417);
        assert_eq!(HttpError::MethodNotImplemented.status(), 501);
        assert_eq!(
            HttpError::DuplicateContentLength.to_string(),
            "more than one Content-Length header (400)"
        );
    }
}
