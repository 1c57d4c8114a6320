//! FastCGI 1.0 without I/O: record codec, name-value pairs, and the
//! per-connection state machines of both sides.
//!
//! - [`ServerConnection`] is the application side (what `fcgi-node` runs per
//!   socket). It implements docs/protocol-behaviour.md: it answers GET_VALUES,
//!   unknown types, unknown roles, overload and over-limit params by itself,
//!   and reports everything else as [`Event`]s. Fatal input is a
//!   [`ProtocolError`] value: log it and close the connection.
//! - [`ClientConnection`] is the web-server side (load generator, CLI, tests).
//! - [`encoder`], [`decoder`], [`params`], [`record`] and [`response_head`]
//!   are the building blocks, usable on their own.
//!
//! Decoding is zero-copy: the caller owns the read buffer, `feed` looks at its
//! front, and stdin chunks are borrowed from it. A record is handled only when
//! it is whole, so the read buffer must be able to hold
//! [`record::MAX_RECORD_LEN`] (65 798) bytes. Encoding appends to a
//! caller-provided `Vec<u8>`; reuse it and nothing allocates per record.
//!
//! # Serving a connection
//!
//! ```
//! use fcgi_proto::{Event, ServerConfig, ServerConnection, Step};
//!
//! // What nginx sends for `GET /` (built here with the client side).
//! let mut input = Vec::new();
//! let mut client = fcgi_proto::ClientConnection::new();
//! let params = [(&b"REQUEST_METHOD"[..], &b"GET"[..]), (b"REQUEST_URI", b"/")];
//! client
//!     .send_request(1, fcgi_proto::Role::Responder, true, params, b"", &mut input)
//!     .unwrap();
//!
//! let mut conn = ServerConnection::new(ServerConfig::default());
//! let mut out = Vec::new(); // bytes to write to the socket
//! let mut pos = 0; // how much of `input` is consumed
//! loop {
//!     match conn.feed(&input[pos..], &mut out) {
//!         // Fatal: log, close the socket, abort conn.active_ids().
//!         Err(error) => panic!("closing: {error}"),
//!         // Read more from the socket (the buffer must fit `needed` bytes).
//!         Ok(Step::Incomplete { .. }) => break,
//!         Ok(Step::Record { consumed, event }) => {
//!             pos += consumed;
//!             match event {
//!                 Some(Event::ParamsDone { id, params, .. }) => {
//!                     for pair in fcgi_proto::params::pairs(&params) {
//!                         let pair = pair.unwrap(); // validated already
//!                         let _ = (pair.name, pair.value);
//!                     }
//!                     // The handler's response: head + body, then the end.
//!                     fcgi_proto::response_head::stdout_response(
//!                         &mut out, id, 200, [("Content-Type", "text/plain")], b"hello",
//!                     );
//!                     let ended = conn.end_request(id, 0, &mut out).unwrap();
//!                     assert!(ended.keep_conn); // else: half-close after flushing
//!                 }
//!                 Some(Event::Stdin { .. }) => { /* body bytes, borrowed from input */ }
//!                 Some(other) => { let _ = other; }
//!                 None => {} // ignored, or answered by the connection itself
//!             }
//!         }
//!     }
//! }
//! // Drop input[..pos], write `out`. Here: check it with the client side.
//! assert_eq!(pos, input.len());
//! let mut pos = 0;
//! let mut body = Vec::new();
//! while let Ok(Step::Record { consumed, event }) = client.feed(&out[pos..]) {
//!     pos += consumed;
//!     if let Some(fcgi_proto::ClientEvent::Stdout { chunk, .. }) = event {
//!         body.extend_from_slice(chunk);
//!     }
//! }
//! assert!(body.ends_with(b"\r\n\r\nhello"));
//! assert!(body.starts_with(b"Status: 200 OK\r\n"));
//! ```

#![forbid(unsafe_code)]

pub mod client;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod params;
pub mod record;
pub mod response_head;
pub mod server;

pub use client::{ClientConnection, ClientEvent};
pub use decoder::{decode_record, Decoded, Record, Step};
pub use error::ProtocolError;
pub use params::{Pair, ParamsError};
pub use record::{ProtocolStatus, RecordHeader, RecordType, Role};
pub use server::{
    body_too_large_message, Event, Refusal, RequestState, ServerConfig, ServerConnection,
    BODY_TOO_LARGE_RESPONSE, OVERLOADED_AUTHORIZER_RESPONSE, PARAMS_TOO_LARGE_RESPONSE,
};
