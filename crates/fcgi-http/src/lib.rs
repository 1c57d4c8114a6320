//! HTTP/1.1 server side without I/O: request heads, body framing, response
//! encoding and CGI params, for fcgi-node's HTTP connections.
//!
//! - [`RequestParser`] finds and parses a request head at the front of the
//!   caller's read buffer (zero-copy: the [`Request`] view borrows it) and
//!   applies RFC 9112's framing and anti-smuggling rules.
//! - [`BodyDecoder`] decodes a Content-Length or chunked body incrementally,
//!   borrowing the body bytes from the buffer.
//! - [`encode_head`] / [`BodyEncoder`] / [`error_response`] append responses
//!   to the caller's `Vec<u8>`.
//! - [`cgi_params`] builds the FastCGI-style params buffer the js engine's
//!   `cgiParams` would give the handler.
//!
//! Every error is an [`HttpError`] value with a [`status`](HttpError::status):
//! answer with [`error_response`] (if no response has started) and close.
//! Requests after a non-keep-alive one are not read: close instead (node:http
//! answers such pipelined bytes with a 400 after the first response).
//!
//! # Serving a connection
//!
//! ```
//! use fcgi_http::{
//!     cgi_params, encode_head, BodyDecoder, BodyLength, ConnInfo, Limits, RequestParser, Status,
//! };
//!
//! let input = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
//!               3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
//! let mut parser = RequestParser::new(Limits::default());
//! let mut buf = input.to_vec(); // the connection's read buffer
//! let mut out = Vec::new(); // bytes to write
//! let mut served = Vec::new();
//! loop {
//!     let consumed = match parser.parse(&buf) {
//!         // Fatal: fcgi_http::error_response(&mut out, e.status(), date), then close.
//!         Err(e) => panic!("{e}"),
//!         Ok(Status::Partial) => break, // read more, call again
//!         Ok(Status::Complete { consumed }) => consumed,
//!     };
//!     let req = parser.request(&buf);
//!     let mut params = Vec::new(); // handed to JS with the request
//!     cgi_params(&req, &ConnInfo::default(), &mut params); // ConnInfo::new per connection
//!     served.push(req.target().to_owned());
//!     let (kind, mut ctx) = (req.body(), req.response_context());
//!     // if req.expect_continue() { out.extend_from_slice(fcgi_http::CONTINUE) }
//!     buf.drain(..consumed);
//!
//!     let mut body = Vec::new();
//!     let mut decoder = BodyDecoder::new(kind, parser.limits());
//!     loop {
//!         let step = decoder.decode(&buf).expect("valid body"); // Err: 4xx + close
//!         body.extend_from_slice(step.data); // stream it to JS
//!         let (consumed, stop) = (step.consumed, step.done || step.needs_input());
//!         buf.drain(..consumed);
//!         if stop {
//!             break; // needs_input: read more, then decode again
//!         }
//!     }
//!
//!     // The handler's response.
//!     ctx.date = Some(b"Sun, 06 Nov 1994 08:49:37 GMT");
//!     let mut enc = encode_head(&mut out, 200, [("X-Len", "3")], BodyLength::Unknown, &ctx);
//!     enc.write(&mut out, &body).unwrap();
//!     enc.finish(&mut out).unwrap();
//!     if !enc.keep_alive() {
//!         break; // flush `out`, then close
//!     }
//! }
//! assert_eq!(served, ["/echo", "/next"]);
//! assert!(buf.is_empty());
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\nX-Len: 3\r\nDate: Sun, 06 Nov 1994"));
//! assert!(out.windows(13).any(|w| w == b"3\r\nabc\r\n0\r\n\r\n"));
//! ```
//!
//! # Choices where RFC 9112 or node:http leave one
//! node:http (the js engine) is the reference; where it and the RFC differ
//! or leave a choice, this crate picks:
//! - **Bare LF** (and bare CR) anywhere in the head, chunk lines or trailers:
//!   400. node:http rejects it too (its status for a bare LF in the request
//!   line is 505, an llhttp artefact). Empty lines before the request line
//!   (CRLF or LF) are skipped, as node:http does.
//! - **Methods**: any token, case preserved (node:http only knows llhttp's
//!   table and answers others with 400). CONNECT: 501 (no tunnels).
//! - **Request line**: exactly one SP between parts (node:http allows more).
//!   Targets: origin-form, absolute-form `scheme://...`, `*` for OPTIONS;
//!   ASCII only (node:http rejects non-ASCII too).
//! - **Versions**: `HTTP/1.0` and `HTTP/1.1`; any other well-formed
//!   `HTTP/d.d` is 505, anything else 400. Responses always say HTTP/1.1.
//! - **Host**: required in HTTP/1.1 (400), and a second Host is 400 (RFC
//!   MUST; node:http keeps the first). Values limited to uri-host/port
//!   characters.
//! - **Content-Length**: 1*DIGIT only; two headers are 400 even when equal;
//!   with Transfer-Encoding, 400 (smuggling) rather than the RFC's "ignore CL".
//! - **Transfer-Encoding**: final coding not `chunked`, `chunked` twice, or
//!   parameters on it: 400 (RFC 9112 §6.3). `gzip, chunked`: 501, as we do
//!   not decode gzip (node:http hands the still-gzipped body to the app). In
//!   HTTP/1.0 it is decoded, then the connection closes (RFC 9112 §6.1).
//! - **Chunks**: hex size with any number of leading zeros, no whitespace
//!   around it (node:http alike), extensions ignored, size line at most
//!   `max_chunk_line_bytes`; trailers syntax-checked and dropped.
//! - **Expect**: `100-continue` (any case) is reported only for HTTP/1.1
//!   requests with a body; any other expectation on HTTP/1.1 is 417, as
//!   node:http answers; HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1).
//! - **Limits**: a target over `max_target_bytes` is 414 as soon as it is
//!   seen, even if it also overflows the head (node:http then says 431).
//!   Checks fire in byte order, so the answer does not depend on how the
//!   input was split into reads.
//! - **Keep-alive**: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
//!   `Connection: keep-alive` and a known response length (node:http closes
//!   HTTP/1.0 connections regardless). Pipelined requests after a closing
//!   one are never read.
//! - **Responses**: HEAD gets `Content-Length` when the length is known
//!   (node:http omits it); 204 never carries Content-Length; `Connection:
//!   keep-alive` is written as node:http does.
//! - **CGI params**: header values are ISO-8859-1 as in node:http, so each
//!   byte from 0x80 up becomes a UTF-8 pair (the JS side decodes values as
//!   UTF-8 and gets node:http's strings back).

#![forbid(unsafe_code)]

mod body;
mod cgi;
mod chars;
mod date;
mod error;
mod limits;
mod request;
mod response;

pub use body::{BodyChunk, BodyDecoder};
pub use cgi::{cgi_params, ConnInfo};
pub use date::{format_http_date, DateCache, DATE_LEN};
pub use error::HttpError;
pub use limits::Limits;
pub use request::{head_cut_short, BodyKind, Request, RequestParser, Status, Version};
pub use response::{
    encode_chunk, encode_head, encode_response, error_response, BodyEncoder, BodyError, BodyLength,
    Framing, ResponseContext, CONTINUE, LAST_CHUNK,
};
