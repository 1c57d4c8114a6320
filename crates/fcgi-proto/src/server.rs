//! The application (server) side of one FastCGI connection, as a state
//! machine without I/O. It implements docs/protocol-behaviour.md, "Records in"
//! and "Records out", row by row; the rows are quoted where they are handled.
//!
//! The caller reads bytes into its own buffer and calls [`ServerConnection::feed`]
//! until it returns [`Step::Incomplete`]; each call handles one whole record.
//! Replies the protocol makes on its own (GET_VALUES_RESULT, UNKNOWN_TYPE,
//! UNKNOWN_ROLE, OVERLOADED, the 431 for over-limit params) are appended to the
//! caller's output buffer during `feed`; the caller writes that buffer out.
//! What needs a clock or a socket (timeouts, the address allowlist, the body
//! limit, half-closing) stays with the caller; [`RequestState`] shows what it
//! needs to decide.

mod config;
mod event;
mod replies;

pub use config::ServerConfig;
pub use config::OVERLOAD_SLACK;
pub use event::body_too_large_message;
pub use event::{Event, Refusal, RequestState};
pub use replies::{
    BODY_TOO_LARGE_RESPONSE, OVERLOADED_AUTHORIZER_RESPONSE, PARAMS_TOO_LARGE_RESPONSE,
};

use crate::decoder::{decode_header, record_after_header, Decoded, Record, Step};
use crate::encoder::{self, end_request, end_sequence, unknown_type};
use crate::error::ProtocolError;
use crate::params::{self, PairCount, ParamsAccumulator};
use crate::record::{
    BeginRequestBody, ProtocolStatus, RecordHeader, RecordType, Role, HEADER_LEN, NULL_REQUEST_ID,
};

#[derive(Debug)]
struct ActiveRequest {
    state: RequestState,
    params: ParamsAccumulator,
}

/// One connection, application side. See the crate docs for the read loop.
#[derive(Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    /// Few requests are active at once (one, for every front end but
    /// HAProxy), so a vector searched linearly beats a map.
    active: Vec<ActiveRequest>,
    /// The first fatal error; `feed` keeps returning it, so a caller that
    /// feeds again cannot move the machine past a broken stream.
    failed: Option<ProtocolError>,
}

impl ServerConnection {
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            active: Vec::new(),
            failed: None,
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Turns OVERLOADED answers on or off, e.g. while draining for shutdown.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.config.overloaded = overloaded;
    }

    /// Handles the record at the front of `input`, appending any reply the
    /// protocol makes itself to `out`.
    ///
    /// On `Step::Record { consumed, .. }` drop `consumed` bytes from the input
    /// buffer and call again; on `Step::Incomplete` read more. An `Err` is
    /// fatal: log it, close the connection, abort its active requests. Headers
    /// are checked as soon as their 8 bytes are there, before the content.
    pub fn feed<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<Step<Event<'a>>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.step(input, out);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn step<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<Step<Event<'a>>, ProtocolError> {
        // "version byte != 1: log, close the connection"
        let Some(header) = decode_header(input)? else {
            return Ok(Step::Incomplete { needed: HEADER_LEN });
        };
        self.check_header(&header)?;
        let record = match record_after_header(input, header) {
            Decoded::Incomplete { needed } => return Ok(Step::Incomplete { needed }),
            Decoded::Record(record) => record,
        };
        let event = self.handle(record, out)?;
        Ok(Step::Record {
            consumed: record.encoded_len(),
            event,
        })
    }

    /// The fatal rows that the header alone decides.
    fn check_header(&self, header: &RecordHeader) -> Result<(), ProtocolError> {
        let record_type = header.record_type;
        let request_id = header.request_id;
        match record_type {
            // "record type 0 or >= 12, any id: UNKNOWN_TYPE; the connection goes on"
            RecordType::Other(_) => Ok(()),
            // "a management type with an id != 0: log, close"
            RecordType::GetValues if request_id != NULL_REQUEST_ID => {
                Err(ProtocolError::ManagementRecordWithId {
                    record_type,
                    request_id,
                })
            }
            RecordType::GetValues => Ok(()),
            // "types only an application sends (3, 6, 7, 10, 11): log, close"
            RecordType::EndRequest
            | RecordType::Stdout
            | RecordType::Stderr
            | RecordType::GetValuesResult
            | RecordType::UnknownType => Err(ProtocolError::UnexpectedRecordType {
                record_type,
                request_id,
            }),
            // "an application type with id 0: log, close" (BEGIN_REQUEST's
            // own row says the same)
            _ if request_id == NULL_REQUEST_ID => Err(ProtocolError::NullRequestId { record_type }),
            // "BEGIN_REQUEST with content shorter than 8 bytes: log, close"
            RecordType::BeginRequest if header.content_length < 8 => {
                Err(ProtocolError::BodyTooShort {
                    record_type,
                    request_id,
                    content_length: header.content_length,
                })
            }
            // "BEGIN_REQUEST for an id that is already active: log, close"
            RecordType::BeginRequest if self.index_of(request_id).is_some() => {
                Err(ProtocolError::DuplicateRequestId { request_id })
            }
            _ => Ok(()),
        }
    }

    fn handle<'a>(
        &mut self,
        record: Record<'a>,
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, ProtocolError> {
        let id = record.header.request_id;
        let content = record.content;
        match record.header.record_type {
            RecordType::BeginRequest => Ok(Some(self.begin(id, content, out))),
            RecordType::AbortRequest => Ok(self.abort(id)),
            RecordType::Params => self.params(id, content, out),
            RecordType::Stdin => Ok(self.body(id, content, Body::Stdin)),
            RecordType::Data => Ok(self.body(id, content, Body::Data)),
            RecordType::GetValues => replies::get_values(&self.config, content, out).map(|()| None),
            RecordType::Other(record_type) => {
                unknown_type(out, record_type);
                Ok(None)
            }
            // check_header turned every other type away already.
            record_type => Err(ProtocolError::UnexpectedRecordType {
                record_type,
                request_id: id,
            }),
        }
    }

    fn begin(&mut self, id: u16, content: &[u8], out: &mut Vec<u8>) -> Event<'static> {
        // check_header made sure the body is there.
        let body =
            BeginRequestBody::parse(content).unwrap_or(BeginRequestBody { role: 0, flags: 0 });
        let keep_conn = body.keep_conn();
        // "role not 1/2/3: END_REQUEST(app 0, UNKNOWN_ROLE); the id stays free"
        let Some(role) = Role::from_u16(body.role) else {
            end_request(out, id, 0, ProtocolStatus::UnknownRole);
            return Event::Refused {
                id,
                reason: Refusal::UnknownRole { role: body.role },
                keep_conn,
            };
        };
        // "while maxReqs requests are active, or on a connection accepted past
        // maxConns: END_REQUEST(app 0, OVERLOADED)"
        if self.config.overloaded || self.active.len() >= self.config.max_reqs {
            if role == Role::Authorizer {
                // lighttpd ignores the protocol status of an Authorizer's answer and lets the
                // request through unless the output carries a non-200 Status: deny explicitly.
                encoder::stdout(out, id, OVERLOADED_AUTHORIZER_RESPONSE);
                encoder::stream_end(out, RecordType::Stdout, id);
            }
            end_request(out, id, 0, ProtocolStatus::Overloaded);
            // "on a connection accepted past maxConns (or draining) the refusal also ends the
            // connection": it will never take a request, and HAProxy 2.6 acts on an answer
            // with no output only when the connection closes (it waits `timeout server` for
            // END_REQUEST alone, then retries). Past maxReqs the connection has requests
            // running, so it stays.
            return Event::Refused {
                id,
                reason: Refusal::Overloaded,
                keep_conn: keep_conn && !self.config.overloaded,
            };
        }
        self.active.push(ActiveRequest {
            state: RequestState {
                id,
                role,
                keep_conn,
                params_done: false,
                params_bytes: 0,
                // "STDIN for an Authorizer, DATA for a Responder or Authorizer:
                // ignored: those streams are empty from BEGIN_REQUEST on"
                stdin_ended: role == Role::Authorizer,
                stdin_bytes: 0,
                data_ended: role != Role::Filter,
                aborted: false,
                stderr_written: false,
            },
            params: ParamsAccumulator::new(),
        });
        Event::BeginRequest {
            id,
            role,
            keep_conn,
        }
    }

    /// "ABORT_REQUEST for an active id: req.signal aborts" — the caller ends
    /// the request. "ABORT for an id that is not active: ignored".
    fn abort(&mut self, id: u16) -> Option<Event<'static>> {
        let request = self.get_mut(id)?;
        if request.state.aborted {
            return None;
        }
        request.state.aborted = true;
        Some(Event::Abort { id })
    }

    fn params<'a>(
        &mut self,
        id: u16,
        content: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<Event<'a>>, ProtocolError> {
        let max_bytes = self.config.max_params_bytes;
        let max_params = self.config.max_params;
        // "PARAMS for an id that is not active: ignored";
        // "PARAMS after the empty PARAMS record: ignored"
        let Some(index) = self.index_of(id) else {
            return Ok(None);
        };
        let request = &mut self.active[index];
        if request.state.params_done {
            return Ok(None);
        }
        if !content.is_empty() {
            // "params bytes > maxParamsBytes: ... STDOUT Status: 431", checked
            // while gathering so an endless stream is cut off at the limit.
            if request.params.push(content, max_bytes).is_err() {
                return Ok(Some(self.refuse_params(
                    index,
                    Refusal::ParamsTooLarge,
                    out,
                )));
            }
            request.state.params_bytes = request.params.len();
            return Ok(None);
        }
        let buffer = std::mem::take(&mut request.params).into_bytes();
        // "a name-value pair whose lengths run past the params: log, close";
        // "pairs > maxParams: ... STDOUT Status: 431". Pairs are checked in
        // order and the walk stops at the limit, as the js engine does.
        let count = match params::count_pairs(&buffer, max_params) {
            Ok(PairCount::Within(count)) => count,
            Ok(PairCount::OverLimit) => {
                return Ok(Some(self.refuse_params(index, Refusal::TooManyParams, out)))
            }
            Err(error) => {
                return Err(ProtocolError::MalformedParams {
                    request_id: id,
                    error,
                })
            }
        };
        request.state.params_done = true;
        request.state.params_bytes = 0;
        Ok(Some(Event::ParamsDone {
            id,
            params: buffer,
            count,
        }))
    }

    /// "the handler is not called; STDOUT Status: 431 response +
    /// END_REQUEST(app 0, REQUEST_COMPLETE); the rest of that request's
    /// records are ignored" — by freeing the id, since records for free ids
    /// are ignored anyway, and END_REQUEST lets the front end reuse it.
    fn refuse_params(
        &mut self,
        index: usize,
        reason: Refusal,
        out: &mut Vec<u8>,
    ) -> Event<'static> {
        let state = self.active.swap_remove(index).state;
        replies::params_too_large(out, state.id);
        Event::Refused {
            id: state.id,
            reason,
            keep_conn: state.keep_conn,
        }
    }

    /// STDIN and DATA: "for an id that is not active: ignored (also after the
    /// request ended)"; "before the params ended: buffered, delivered in order
    /// once the request is dispatched" — delivered now, held by the caller.
    /// Records after a stream's empty record are ignored too, and so are the
    /// streams a role does not have (they start out ended).
    fn body<'a>(&mut self, id: u16, chunk: &'a [u8], body: Body) -> Option<Event<'a>> {
        let max_body_bytes = self.config.max_body_bytes;
        let state = &mut self.get_mut(id)?.state;
        let ended = match body {
            Body::Stdin => &mut state.stdin_ended,
            Body::Data => &mut state.data_ended,
        };
        if *ended {
            return None;
        }
        if chunk.is_empty() {
            *ended = true;
        } else if let Body::Stdin = body {
            // "body > maxBodyBytes: 413 (or the stream is cut if the response started)"
            state.stdin_bytes += chunk.len() as u64;
            if state.stdin_bytes > max_body_bytes {
                state.stdin_ended = true;
                return Some(Event::BodyTooLarge { id });
            }
        }
        Some(match (body, chunk.is_empty()) {
            (Body::Stdin, false) => Event::Stdin { id, chunk },
            (Body::Stdin, true) => Event::StdinEnd { id },
            (Body::Data, false) => Event::Data { id, chunk },
            (Body::Data, true) => Event::DataEnd { id },
        })
    }

    /// Appends STDOUT records for an active request. `false` (nothing
    /// written) if the id is not active, e.g. after an abort ended it.
    pub fn write_stdout(&mut self, id: u16, data: &[u8], out: &mut Vec<u8>) -> bool {
        if self.index_of(id).is_none() {
            return false;
        }
        encoder::stdout(out, id, data);
        true
    }

    /// Appends STDERR records for an active request and remembers that the
    /// end sequence needs an empty STDERR record. `false` if not active.
    pub fn write_stderr(&mut self, id: u16, data: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(request) = self.get_mut(id) else {
            return false;
        };
        if !data.is_empty() {
            request.state.stderr_written = true;
        }
        encoder::stderr(out, id, data);
        true
    }

    /// Ends an active request: an empty STDOUT, an empty STDERR if stderr was
    /// written, END_REQUEST(app_status, REQUEST_COMPLETE); frees the id.
    /// `app_status` is 0 normally, 1 when the response was cut by an error or
    /// abort. Returns the request's last state (`keep_conn` says whether to
    /// close after flushing), or `None` if the id was not active.
    pub fn end_request(
        &mut self,
        id: u16,
        app_status: u32,
        out: &mut Vec<u8>,
    ) -> Option<RequestState> {
        let state = self.release(id)?;
        end_sequence(out, id, app_status, state.stderr_written);
        Some(state)
    }

    /// Answers a request whose body passed `max_body_bytes`
    /// ([`Event::BodyTooLarge`]): the 413 response ([`BODY_TOO_LARGE_RESPONSE`])
    /// and END_REQUEST(0) when no response started, else the response is cut
    /// (END_REQUEST(1)). Frees the id, like [`end_request`](Self::end_request).
    pub fn refuse_body(
        &mut self,
        id: u16,
        response_started: bool,
        out: &mut Vec<u8>,
    ) -> Option<RequestState> {
        if response_started {
            return self.end_request(id, 1, out);
        }
        self.index_of(id)?;
        encoder::stdout(out, id, BODY_TOO_LARGE_RESPONSE);
        self.end_request(id, 0, out)
    }

    /// Frees an active id without writing anything, for callers that encode
    /// the end sequence themselves ([`encoder::end_sequence`]).
    pub fn release(&mut self, id: u16) -> Option<RequestState> {
        let index = self.index_of(id)?;
        Some(self.active.swap_remove(index).state)
    }

    /// The state of an active request.
    pub fn request(&self, id: u16) -> Option<RequestState> {
        Some(self.active.get(self.index_of(id)?)?.state)
    }

    pub fn active_count(&self) -> usize {
        self.active.len()
    }

    /// Ids of the active requests, e.g. to abort them all at EOF or on a
    /// fatal error ("EOF in the middle of a record: close; active requests'
    /// signals abort"), or to check params timeouts.
    pub fn active_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.active.iter().map(|request| request.state.id)
    }

    /// No request active: the idle timeout applies.
    pub fn is_idle(&self) -> bool {
        self.active.is_empty()
    }

    /// The fatal error `feed` returned, if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    fn index_of(&self, id: u16) -> Option<usize> {
        self.active
            .iter()
            .position(|request| request.state.id == id)
    }

    fn get_mut(&mut self, id: u16) -> Option<&mut ActiveRequest> {
        self.active
            .iter_mut()
            .find(|request| request.state.id == id)
    }
}

#[derive(Clone, Copy)]
enum Body {
    Stdin,
    Data,
}
