//! HTTP/1.1 on the connection driver (driver.rs): requests are parsed with `fcgi_http`, each
//! goes to JavaScript as CGI params (what a FastCGI front end would send) with its body, and
//! responses are framed by `fcgi_http`'s encoder, through the same event queue, handles, read
//! budget, write path, flush, close and drain as FastCGI.
//!
//! Requests are served one at a time per connection: the next head is parsed only once the
//! current request is complete (response ended and body read or discarded), so pipelined
//! requests wait as bytes in the read buffer and responses go out strictly in order.
//! `Expect: 100-continue` is answered when the request is dispatched (what node:http does
//! without a `checkContinue` listener). The reference for every observable choice is the js
//! engine (node:http, lib/engines/js/http-server.ts).

use std::net::SocketAddr;
use std::time::SystemTime;

use fcgi_http::{
    cgi_params, encode_head, error_response, head_cut_short, BodyDecoder, BodyEncoder, BodyKind,
    BodyLength, ConnInfo, DateCache, HttpError, Limits, RequestParser, ResponseContext, Status,
    CONTINUE,
};
use fcgi_proto::Role;
use tokio::time::Instant;

use crate::driver::{Conn, Finish, Flow, Idle, Input, Part, Plan, State, Timer, Wire};
use crate::events::{
    lock, AbortReason, ArgFlag, LogLevel, EV_ABORT, EV_REQUEST, EV_STDIN, EV_STDIN_END,
};
use crate::output::Body;
use crate::server::{Shared, Stats};

/// While a response is in progress, pipelined bytes are read ahead up to this much (reading
/// also notices a client that goes away, which aborts the request).
const PIPELINE_CAP: usize = 64 << 10;

/// The request being served.
struct Cur {
    handle: u32,
    ctx: ResponseContext<'static>,
    /// Once the head went out.
    enc: Option<BodyEncoder>,
    /// The response ended or was cut: JavaScript is done with the request.
    done: bool,
    /// The connection may carry another request after this one (decided at the end).
    keep_alive: bool,
    paused: bool,
    /// The request body was read to its end (set by the task).
    body_done: bool,
}

pub(crate) struct HttpWire {
    cur: Option<Cur>,
    /// The read buffer holds unparsed bytes: wake the task when the response ends.
    input_pending: bool,
    /// No more requests on this connection: flush, then close.
    closing: bool,
    /// The client sent its FIN: the requests it sent before are still answered (each with its
    /// signal aborted), then the connection closes.
    peer_ended: bool,
    date: DateCache,
    parser: RequestParser,
    body: BodyDecoder,
    info: ConnInfo,
    params: Vec<u8>,
    /// When the first byte of the head being parsed arrived (header timeout).
    head_since: Option<Instant>,
}

type St = State<HttpWire>;
type C = Conn<HttpWire>;

fn limits(shared: &Shared) -> Limits {
    let o = &shared.opts;
    Limits::for_server(
        o.max_url_bytes,
        o.max_params_bytes,
        o.max_params,
        o.max_body_bytes,
    )
}

impl HttpWire {
    /// `addrs`: the socket's local and peer addresses (TCP), for the CGI params.
    pub fn new(shared: &Shared, (local, peer): (Option<SocketAddr>, Option<SocketAddr>)) -> Self {
        let limits = limits(shared);
        Self {
            cur: None,
            input_pending: false,
            closing: false,
            peer_ended: false,
            date: DateCache::new(),
            body: BodyDecoder::new(BodyKind::Empty, &limits),
            parser: RequestParser::new(limits),
            info: ConnInfo::new(local, peer),
            params: Vec::new(),
            head_since: None,
        }
    }

    fn cur(&mut self, handle: u32) -> Option<&mut Cur> {
        self.cur.as_mut().filter(|c| c.handle == handle && !c.done)
    }
}

/// Whether `flush` writes to the socket from the JS thread (default, as FastCGI does: no task
/// wake-up per response) or leaves every write to the connection's task
/// (FCGI_HTTP_DIRECT_WRITE=0: frees the JS thread from the send syscall, at the price of a
/// wake-up; measured on 2 busy cores, neither clearly won, direct used less CPU per request).
fn direct_writes() -> bool {
    static DIRECT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DIRECT.get_or_init(|| std::env::var("FCGI_HTTP_DIRECT_WRITE").map_or(true, |v| v != "0"))
}

/// JavaScript is done with the request: undo its counter and handle.
fn forget(conn: &C, handle: u32) {
    Stats::dec(&conn.shared.stats.requests_active);
    lock(&conn.shared.handles).remove(&handle);
}

/// node:http's words for a connection that went away: "client connection closed".
fn http_reason(reason: AbortReason) -> AbortReason {
    match reason {
        AbortReason::ConnectionClosed => AbortReason::ClientClosed,
        other => other,
    }
}

/// The client sent its FIN after the whole running request: its signal aborts, its response
/// can still go out, and the connection closes after it.
fn client_gone(w: &mut HttpWire, conn: &C) {
    if let Some(cur) = w.cur.as_mut().filter(|c| !c.done && c.body_done) {
        Stats::inc(&conn.shared.stats.aborts);
        let arg = AbortReason::ClientClosed as u32 | ArgFlag::SignalOnly as u32;
        conn.shared.emit(EV_ABORT, arg, cur.handle, &[]);
    }
}

/// Answers `status` with the short error response both engines use, and closes.
fn refuse(st: &mut St, conn: &C, status: u16, why: &str) {
    Stats::inc(&conn.shared.stats.errors);
    conn.shared.log(LogLevel::Info, why);
    let date = *st.wire.date.get(SystemTime::now());
    error_response(st.out.buf(), status, Some(&date));
    st.wire.closing = true;
}

/// A body that breaks its framing or the body limit: the handler's signal aborts; the client
/// gets the error status if no response started, else the connection just closes.
fn body_error(st: &mut St, conn: &C, e: HttpError) {
    let Some(cur) = st.wire.cur.as_mut() else {
        return;
    };
    let started = cur.enc.is_some() || cur.done;
    if !cur.done {
        cur.done = true;
        cur.keep_alive = false;
        let reason = if e == HttpError::BodyTooLarge {
            AbortReason::BodyTooLarge
        } else {
            AbortReason::ClientClosed
        };
        let handle = cur.handle;
        conn.shared.emit(EV_ABORT, reason as u32, handle, &[]);
        forget(conn, handle);
    }
    if started {
        Stats::inc(&conn.shared.stats.errors);
        conn.shared
            .log(LogLevel::Info, &format!("bad HTTP request body: {e}"));
        st.wire.closing = true;
    } else {
        refuse(st, conn, e.status(), &format!("bad HTTP request body: {e}"));
    }
}

/// The head is complete (`consumed` bytes): JavaScript gets the request.
fn dispatch(st: &mut St, conn: &C, input: &mut Input, consumed: usize) {
    let sh = &conn.shared;
    let w = &mut st.wire;
    let req = w.parser.request(input.unread());
    // (a Content-Length over maxBodyBytes was refused by the parser: 413)
    let kind = req.body();
    w.params.clear();
    cgi_params(&req, &w.info, &mut w.params);
    let mut ctx = req.response_context();
    ctx.keep_alive_timeout = Some(sh.opts.idle_timeout.as_secs().min(1 << 30) as u32);
    let expect_continue = req.expect_continue();
    sh.check_panic_injection(&w.params);
    let handle = sh.new_handle();
    lock(&sh.handles).insert(handle, (conn.handle(), 0));
    Stats::inc(&sh.stats.requests_total);
    Stats::inc(&sh.stats.requests_active);
    let ascii = if w.params.is_ascii() {
        ArgFlag::ParamsAscii as u32
    } else {
        0
    };
    let role = u32::from(Role::Responder.as_u16()); // node:http's role for HTTP requests
    sh.emit(EV_REQUEST, ascii | (role << 16), handle, &w.params);
    if w.params.capacity() > 1 << 16 {
        w.params = Vec::new();
    }
    if expect_continue && !w.peer_ended {
        st.out.buf().extend_from_slice(CONTINUE);
    }
    w.body = BodyDecoder::new(kind, w.parser.limits());
    input.pos += consumed;
    w.head_since = None;
    let body_done = w.body.is_done();
    if body_done
        && !sh
            .events
            .mark_last_request(handle, ArgFlag::StdinEnded as u32)
    {
        sh.emit(EV_STDIN_END, 0, handle, &[]);
    }
    w.cur = Some(Cur {
        handle,
        ctx,
        enc: None,
        done: false,
        keep_alive: false,
        paused: false,
        body_done,
    });
    if body_done && w.peer_ended {
        client_gone(w, conn); // sent before the FIN: answered, signal aborted
    }
}

impl Wire for HttpWire {
    const READ_CHUNK: usize = 64 << 10;
    const PANIC_LOG: &'static str =
        "internal error in an HTTP connection task (panic); connection closed";
    const LOST: AbortReason = AbortReason::ClientClosed;

    fn direct_writes() -> bool {
        direct_writes()
    }

    /// One part of a response: head (status and headers, framed by fcgi-http), body, end.
    fn send(st: &mut St, conn: &C, part: Part<'_>) -> bool {
        let Part {
            handle,
            head,
            body,
            end,
            ..
        } = part;
        let draining = st.draining;
        let w = &mut st.wire;
        let Some(cur) = w.cur.as_mut().filter(|c| c.handle == handle && !c.done) else {
            return false;
        };
        let out = &mut st.out;
        if cur.enc.is_none() {
            let length =
                BodyLength::of_first_part(body.as_ref().map(Body::len), end, cur.ctx.head_request);
            let status = head.as_ref().map_or(200, |h| h.status);
            let date = *w.date.get(SystemTime::now());
            let mut ctx = cur.ctx;
            ctx.date = Some(&date);
            if draining {
                ctx.keep_alive = false;
            }
            let headers = head.iter().flat_map(|h| h.pairs());
            cur.enc = Some(encode_head(out.buf(), status, headers, length, &ctx));
        }
        let enc = cur.enc.as_mut().expect("head encoded above");
        if let Some(b) = body {
            let written = match b {
                Body::Copy(b) => enc.write(out.buf(), b),
                // the body goes to the socket from its Buffer (see output.rs)
                Body::Hold(b) => {
                    let len = (*b).as_ref().len();
                    enc.begin_data(out.buf(), len).map(|send| {
                        if send {
                            out.hold(&b, 0..len);
                            enc.end_data(out.buf());
                        }
                    })
                }
            };
            if let Err(e) = written {
                conn.shared.log(
                    LogLevel::Warn,
                    &format!("HTTP response: {e}; closing the connection"),
                );
            }
        }
        if end {
            if let Err(e) = enc.finish(out.buf()) {
                conn.shared.log(
                    LogLevel::Warn,
                    &format!("HTTP response: {e}; closing the connection"),
                );
            }
            cur.keep_alive = enc.keep_alive();
            cur.done = true;
            forget(conn, handle);
        }
        true
    }

    /// HTTP has no stderr stream: the adapter logs it.
    fn stderr(_st: &mut St, _handle: u32, _req: u16, _chunk: &[u8]) -> bool {
        false
    }

    /// The handler failed after the head went out: close the connection (the response is cut
    /// short; a chunked one lacks its last chunk), as node:http's `res.destroy()`.
    fn cut(st: &mut St, conn: &C, handle: u32, _req: u16) -> bool {
        let w = &mut st.wire;
        let Some(cur) = w.cur(handle) else {
            return false;
        };
        cur.done = true;
        cur.keep_alive = false;
        w.closing = true;
        Stats::inc(&conn.shared.stats.errors);
        forget(conn, handle);
        true
    }

    fn set_paused(st: &mut St, handle: u32, _req: u16, paused: bool) -> bool {
        let Some(c) = st.wire.cur.as_mut().filter(|c| c.handle == handle) else {
            return false;
        };
        let resumed = c.paused && !paused;
        c.paused = paused;
        resumed
    }

    fn task_has_work(st: &St) -> bool {
        let w = &st.wire;
        // after the client's FIN the task goes on when a response ends: next request, or close
        if w.closing || st.draining || w.peer_ended {
            return true;
        }
        // the task goes on once the response ended: next request, rest of the body, close
        w.cur
            .as_ref()
            .is_some_and(|c| c.done && (w.input_pending || !c.keep_alive || !c.body_done))
    }

    /// Parses and dispatches what the read buffer holds, as far as the current request allows.
    fn on_input(st: &mut St, conn: &C, input: &mut Input) -> Flow {
        loop {
            if st.wire.closing {
                return Flow::Continue;
            }
            let Some(cur) = st.wire.cur.as_mut() else {
                let w = &mut st.wire;
                if st.draining {
                    w.closing = true;
                    return Flow::Continue;
                }
                let unread = input.unread();
                if unread.is_empty() {
                    w.head_since = None;
                    w.closing |= w.peer_ended; // every request the client sent is answered
                    return Flow::Continue;
                }
                w.head_since.get_or_insert_with(Instant::now);
                match w.parser.parse(unread) {
                    Ok(Status::Partial) if w.peer_ended => {
                        if head_cut_short(unread) {
                            let e = HttpError::TruncatedHead;
                            refuse(st, conn, e.status(), &format!("bad HTTP request: {e}"));
                        } else {
                            w.closing = true;
                        }
                        return Flow::Continue;
                    }
                    Ok(Status::Partial) => return Flow::Continue,
                    Err(e) => {
                        refuse(st, conn, e.status(), &format!("bad HTTP request: {e}"));
                        return Flow::Continue;
                    }
                    Ok(Status::Complete { consumed }) => dispatch(st, conn, input, consumed),
                }
                continue;
            };
            if !cur.body_done {
                // once the response ended, the rest of the body is read and dropped
                let discard = cur.done;
                if !discard && (cur.paused || !conn.budget_left()) {
                    return Flow::Continue;
                }
                let (buf, pos) = (&input.buf, &mut input.pos);
                let chunk = match st.wire.body.decode(&buf[*pos..]) {
                    Ok(c) => c,
                    Err(e) => {
                        body_error(st, conn, e);
                        return Flow::Continue;
                    }
                };
                *pos += chunk.consumed;
                let w = &mut st.wire;
                let Some(cur) = w.cur.as_mut() else {
                    return Flow::Continue;
                };
                if !discard && !chunk.data.is_empty() {
                    conn.push_chunk(EV_STDIN, cur.handle, chunk.data);
                }
                if chunk.done {
                    cur.body_done = true;
                    if !discard {
                        conn.shared.emit(EV_STDIN_END, 0, cur.handle, &[]);
                    }
                    if w.peer_ended {
                        client_gone(w, conn);
                    }
                } else if chunk.needs_input() {
                    if w.peer_ended {
                        // the client's FIN came in the middle of this body: it never completes
                        // (a handler still waiting for it is aborted, and answered 400 as by
                        // node:http unless its response started)
                        if discard {
                            w.closing = true;
                        } else {
                            body_error(st, conn, HttpError::TruncatedBody);
                        }
                    }
                    return Flow::Continue;
                }
                continue;
            }
            if !cur.done {
                return Flow::Continue; // the handler is still answering
            }
            let keep_alive = cur.keep_alive;
            st.wire.cur = None;
            if !keep_alive {
                st.wire.closing = true;
            }
        }
    }

    fn plan(st: &mut St, conn: &C, input: &Input) -> Plan {
        let draining = st.draining;
        let w = &mut st.wire;
        let unread = input.unread().len();
        w.input_pending = unread > 0;
        let want_read = !w.closing
            && match &w.cur {
                None => true,
                Some(c) if !c.body_done && !c.done => !c.paused && conn.budget_left(),
                Some(c) if !c.body_done => true,
                Some(_) => unread < PIPELINE_CAP,
            };
        let deadline = match (&w.cur, w.closing) {
            (None, false) => w.head_since.map(|t| t + conn.shared.opts.params_timeout),
            _ => None,
        };
        // a response still being produced (after the client's FIN) is not flushed yet
        let answering = w.cur.as_ref().is_some_and(|c| !c.done);
        // server closing and this connection between requests: close it now, as node:http's
        // closeIdleConnections (no response was cut, nothing to linger for)
        let idle_drained = draining && w.cur.is_none() && unread == 0;
        let finish = match (w.closing && !answering, w.peer_ended || idle_drained) {
            (false, _) => Finish::Open,
            (true, true) => Finish::CloseWhenFlushed,
            (true, false) => Finish::LingerWhenFlushed,
        };
        Plan {
            want_read,
            deadline,
            finish,
        }
    }

    /// The client's FIN (it may only have half-closed): the requests it sent whole are
    /// answered, each with its signal aborted, as Go's net/http does; one cut short is aborted;
    /// then the connection closes (`on_input` does the rest).
    fn on_eof(st: &mut St, conn: &C, _input: &Input) -> Flow {
        st.wire.peer_ended = true;
        client_gone(&mut st.wire, conn);
        Flow::Continue
    }

    fn on_deadline(st: &mut St, conn: &C, now: Instant) -> Timer {
        let w = &st.wire;
        let timeout = conn.shared.opts.params_timeout;
        let expired = w.head_since.is_some_and(|t| t + timeout <= now);
        if !(expired && w.cur.is_none() && !w.closing) {
            return Timer::NotMine;
        }
        let why = format!(
            "bad HTTP request: headers not complete after {} ms",
            timeout.as_millis()
        );
        refuse(st, conn, HttpError::HeadTimeout.status(), &why);
        Timer::Handled
    }

    /// An idle keep-alive connection is closed quietly, as by node:http.
    fn on_idle(st: &mut St, _conn: &C, input: &Input, flushed: bool) -> Idle {
        // a response the JS thread finished (and wrote) without waking the task is over too:
        // `cur` is only reaped by the next `on_input`
        let over = st.wire.cur.as_ref().is_none_or(|c| c.done && c.body_done);
        if over && flushed && input.unread().is_empty() {
            Idle::Close // idle keep-alive connection: closed quietly, as node:http
        } else {
            Idle::Busy
        }
    }

    /// The request still running (if any) is gone: its signal aborts.
    fn abort_all(st: &mut St, conn: &C, reason: AbortReason) {
        let w = &mut st.wire;
        w.closing = true;
        if let Some(cur) = w.cur.take() {
            if !cur.done {
                Stats::inc(&conn.shared.stats.aborts);
                let reason = http_reason(reason);
                conn.shared.emit(EV_ABORT, reason as u32, cur.handle, &[]);
                forget(conn, cur.handle);
            }
        }
    }
}
