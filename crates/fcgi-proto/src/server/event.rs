//! What `ServerConnection::feed` reports to the application.

use crate::record::Role;

/// What a record meant for the application.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A request was accepted; its id is active until `end_request`.
    /// Start the params timeout here. Streams the role does not have are
    /// empty from here on, and their records are ignored: an Authorizer gets
    /// no `Stdin`/`StdinEnd`, only a Filter gets `Data`/`DataEnd`.
    BeginRequest {
        id: u16,
        role: Role,
        keep_conn: bool,
    },
    /// The params are complete and valid: dispatch the request. `params` is
    /// the whole name-value buffer (walk it with [`pairs`](crate::params::pairs)); it is
    /// handed over, so it can go to JavaScript without a copy.
    ParamsDone {
        id: u16,
        params: Vec<u8>,
        count: usize,
    },
    /// Body bytes, borrowed from the input. They can arrive before
    /// `ParamsDone` (the table says: buffer them, deliver them in order once
    /// the request is dispatched) — the caller holds them until then.
    Stdin { id: u16, chunk: &'a [u8] },
    /// The empty STDIN record: the body is complete.
    StdinEnd { id: u16 },
    /// Filter-role file bytes, borrowed from the input; same rules as `Stdin`.
    Data { id: u16, chunk: &'a [u8] },
    /// The empty DATA record.
    DataEnd { id: u16 },
    /// ABORT_REQUEST for an active request (reported once). Abort its signal
    /// and end it: `end_request(id, 1, out)`, cutting any response in progress.
    Abort { id: u16 },
    /// The request's STDIN passed `max_body_bytes` (its later STDIN records
    /// are ignored). The request stays active: abort its handler, then
    /// answer with [`refuse_body`](super::ServerConnection::refuse_body).
    BodyTooLarge { id: u16 },
    /// The connection answered a request on its own, with END_REQUEST already
    /// in `out`; the id is free. Flush, and close after it if `!keep_conn`.
    Refused {
        id: u16,
        reason: Refusal,
        keep_conn: bool,
    },
}

/// Why a request was answered without the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// END_REQUEST(0, UNKNOWN_ROLE); no `BeginRequest` event came before.
    UnknownRole { role: u16 },
    /// END_REQUEST(0, OVERLOADED); no `BeginRequest` event came before.
    Overloaded,
    /// Params over `max_params_bytes`, checked while they arrive: a 431
    /// response ([`PARAMS_TOO_LARGE_RESPONSE`](super::PARAMS_TOO_LARGE_RESPONSE)) and
    /// END_REQUEST(0, REQUEST_COMPLETE). `BeginRequest` (and possibly early
    /// `Stdin`) came before: drop what was gathered for the id.
    ParamsTooLarge,
    /// More pairs than `max_params`, checked at the empty PARAMS record: the
    /// same answer as `ParamsTooLarge`.
    TooManyParams,
}

impl Refusal {
    /// Whether a `BeginRequest` event announced the request before it was
    /// refused (the caller then forgets what it holds for the id).
    pub fn after_begin(&self) -> bool {
        matches!(self, Self::ParamsTooLarge | Self::TooManyParams)
    }

    /// The log line for a refusal worth logging (both engines log the same
    /// words, which name the API's options); `None` for the quiet ones.
    pub fn log_message(&self, id: u16) -> Option<String> {
        let why = match self {
            Self::ParamsTooLarge => "params larger than maxParamsBytes",
            Self::TooManyParams => "more params than maxParams",
            Self::UnknownRole { .. } | Self::Overloaded => return None,
        };
        Some(format!("request {id}: {why}, answered 431"))
    }
}

/// The log line for [`Event::BodyTooLarge`] (the js engine's words).
pub fn body_too_large_message(id: u16) -> String {
    format!("request {id}: body larger than maxBodyBytes, answered 413")
}

/// What the connection knows about one active request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestState {
    pub id: u16,
    pub role: Role,
    pub keep_conn: bool,
    /// The empty PARAMS record has arrived (`ParamsDone` was emitted).
    pub params_done: bool,
    /// PARAMS bytes gathered so far (0 once done).
    pub params_bytes: usize,
    pub stdin_ended: bool,
    /// STDIN bytes received so far.
    pub stdin_bytes: u64,
    pub data_ended: bool,
    pub aborted: bool,
    /// Something was written with `write_stderr`, so the end sequence
    /// includes an empty STDERR record.
    pub stderr_written: bool,
}
