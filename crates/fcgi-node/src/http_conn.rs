//! One HTTP/1.1 connection: a Tokio task parses requests with `fcgi_http`, pushes each
//! request (CGI params, as FastCGI would send them) and its body to JavaScript through the
//! server's one event queue, and writes the connection's output buffer, which the JS thread
//! fills through `send` (one synchronous call per response part), exactly as for FastCGI
//! (conn.rs): same queue, handles, read budget, write path, flush, close and drain.
//!
//! Requests are served one at a time per connection: the next head is parsed only once the
//! current request is complete (response ended and body read or discarded), so pipelined
//! requests wait as bytes in the read buffer and responses go out strictly in order.
//! `Expect: 100-continue` is answered when the request is dispatched (what node:http does
//! without a `checkContinue` listener). The reference for every observable choice is the js
//! engine (node:http, lib/engines/js/http-server.ts).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use fcgi_http::{
    cgi_params, encode_head, error_response, BodyDecoder, BodyEncoder, BodyKind, BodyLength,
    ConnInfo, DateCache, HttpError, Limits, RequestParser, ResponseContext, Status, CONTINUE,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::conn::{HIGH_WATER, LINGER, LOW_WATER};
use crate::events::{
    lock, AbortReason, Level, ABORT_SIGNAL_ONLY, EV_ABORT, EV_DRAIN, EV_REQUEST, EV_STDIN,
    EV_STDIN_END,
};
use crate::output::{Body, OutQueue, Output};
use crate::server::{AnyConn, Shared, Stats};
use crate::socket::{
    log_io_error, make_room, next_deadline, spawn_guarded, wait, write_ready, Stream, TaskStream,
    Woke, Wrote,
};

/// Bytes read per read call, at most.
const READ_CHUNK: usize = 64 << 10;
/// While a response is in progress, pipelined bytes are read ahead up to this much (reading
/// also notices a client that goes away, which aborts the request).
const PIPELINE_CAP: usize = 64 << 10;
/// Body bytes handed to the queue but not yet taken by JavaScript: past this the connection
/// stops reading. Smaller than FastCGI's (no multiplexing: one body at a time); JavaScript's
/// BodyStream adds its own 8 MiB.
const READ_BUDGET: usize = 1 << 20;
/// node:http's role for HTTP requests: responder (FastCGI role code 1).
const ROLE_RESPONDER: u32 = 1;

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
    wants_drain: bool,
    /// The request body was read to its end (set by the task).
    body_done: bool,
}

struct HState {
    out: Output,
    cur: Option<Cur>,
    /// The read buffer holds unparsed bytes: wake the task when the response ends.
    input_pending: bool,
    /// No more requests on this connection: flush, then close.
    closing: bool,
    /// The client sent its FIN: the requests it sent before are still answered (each with its
    /// signal aborted), then the connection closes.
    peer_ended: bool,
    /// The server is closing: finish the current request, then close.
    draining: bool,
    destroy: Option<AbortReason>,
    date: DateCache,
}

pub struct HttpConn {
    pub id: u64,
    pub shared: Arc<Shared>,
    st: Mutex<HState>,
    wake: Notify,
    /// Body bytes pushed to the queue and not yet taken by JavaScript.
    queued: AtomicUsize,
    dirty: AtomicBool,
}

/// `"<status>\r\n<name>: <value>\r\n..."` (latin1, from the adapter) → status and headers.
fn split_head(text: &[u8]) -> (u16, impl Iterator<Item = (&[u8], &[u8])>) {
    let (first, rest) = match text.iter().position(|&b| b == b'\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &[][..]),
    };
    let status = first
        .trim_ascii()
        .iter()
        .try_fold(0u32, |n, &b| {
            b.is_ascii_digit()
                .then(|| n * 10 + u32::from(b - b'0'))
                .filter(|&n| n < 1000)
        })
        .filter(|&n| n >= 100)
        .map_or(200, |n| n as u16);
    let headers = rest.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let value = &line[colon + 1..];
        Some((&line[..colon], value.strip_prefix(b" ").unwrap_or(value)))
    });
    (status, headers)
}

/// Whether `flush` writes to the socket from the JS thread (default, as FastCGI does: no task
/// wake-up per response) or leaves every write to the connection's task
/// (FCGI_HTTP_DIRECT_WRITE=0: frees the JS thread from the send syscall, at the price of a
/// wake-up; measured on 2 busy cores, neither clearly won, direct used less CPU per request).
fn direct_writes() -> bool {
    static DIRECT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DIRECT.get_or_init(|| std::env::var("FCGI_HTTP_DIRECT_WRITE").map_or(true, |v| v != "0"))
}

impl HttpConn {
    pub fn new(id: u64, shared: Arc<Shared>) -> Self {
        Self {
            id,
            st: Mutex::new(HState {
                out: Output::default(),
                cur: None,
                input_pending: false,
                closing: false,
                peer_ended: false,
                draining: false,
                destroy: None,
                date: DateCache::new(),
            }),
            shared,
            wake: Notify::new(),
            queued: AtomicUsize::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    // ---- called from the JS thread -------------------------------------------------------

    /// One part of a response: head (`status\r\nname: value\r\n...`, latin1), body, end.
    /// False: wait for the drain event.
    pub fn send(
        self: &Arc<Self>,
        handle: u32,
        head: Option<&[u8]>,
        body: Option<Body<'_>>,
        end: bool,
    ) -> bool {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let Some(cur) = st.cur.as_mut().filter(|c| c.handle == handle && !c.done) else {
            return true; // aborted or cut: the response goes nowhere
        };
        if cur.enc.is_none() {
            // node:http's framing: a whole response in one call (`res.end(data)`) gets
            // Content-Length; one that streams is chunked (HTTP/1.1); a Content-Length the
            // handler set wins. HEAD: the API dropped the body, so its length is unknown here.
            let length =
                BodyLength::of_first_part(body.as_ref().map(Body::len), end, cur.ctx.head_request);
            let (status, headers) = split_head(head.unwrap_or(b"200\r\n"));
            let date = *st.date.get(SystemTime::now());
            let mut ctx = cur.ctx;
            ctx.date = Some(&date);
            if st.draining {
                ctx.keep_alive = false;
            }
            cur.enc = Some(encode_head(st.out.buf(), status, headers, length, &ctx));
        }
        let enc = cur.enc.as_mut().expect("head encoded above");
        if let Some(b) = body {
            let written = match b {
                Body::Copy(b) => enc.write(st.out.buf(), b),
                // the body goes to the socket from its Buffer (see output.rs)
                Body::Hold(b) => {
                    let len = (*b).as_ref().len();
                    enc.begin_data(st.out.buf(), len).map(|send| {
                        if send {
                            st.out.hold(&b, 0..len);
                            enc.end_data(st.out.buf());
                        }
                    })
                }
            };
            if let Err(e) = written {
                self.shared.log(
                    Level::Warn,
                    &format!("HTTP response: {e}; closing the connection"),
                );
            }
        }
        let ok = st.out.queued() < HIGH_WATER;
        if end {
            if let Err(e) = enc.finish(st.out.buf()) {
                self.shared.log(
                    Level::Warn,
                    &format!("HTTP response: {e}; closing the connection"),
                );
            }
            cur.keep_alive = enc.keep_alive();
            cur.done = true;
            self.forget(handle);
        } else if !ok && !cur.wants_drain {
            cur.wants_drain = true;
        }
        drop(guard);
        self.mark_dirty();
        ok
    }

    fn mark_dirty(self: &Arc<Self>) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            lock(&self.shared.dirty).push(AnyConn::Http(self.clone()));
        }
    }

    /// Writes what `send` queued (JS thread, once per batch of responses): straight to the
    /// socket when the task has nothing in flight, else (or for the rest) by waking the task.
    pub fn flush(&self) {
        self.dirty.store(false, Ordering::Release);
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let mut wake_task = if direct_writes() {
            st.out.flush_now(&self.shared)
        } else {
            st.out.has_pending()
        };
        // after the client's FIN the task goes on when a response ends: next request, or close
        if st.destroy.is_some() || st.closing || st.draining || st.peer_ended {
            wake_task = true;
        }
        if let Some(c) = &st.cur {
            // the task goes on once the response ended: next request, rest of the body, close
            if c.wants_drain || (c.done && (st.input_pending || !c.keep_alive || !c.body_done)) {
                wake_task = true;
            }
        }
        drop(guard);
        if wake_task {
            self.wake.notify_one();
        }
    }

    /// The handler failed after the head went out: close the connection (the response is
    /// cut short; a chunked one lacks its last chunk), as node:http's `res.destroy()`.
    pub fn cut(self: &Arc<Self>, handle: u32) {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let Some(cur) = st.cur.as_mut().filter(|c| c.handle == handle && !c.done) else {
            return;
        };
        cur.done = true;
        cur.keep_alive = false;
        st.closing = true;
        Stats::inc(&self.shared.stats.errors);
        self.forget(handle);
        drop(guard);
        self.mark_dirty();
    }

    /// JavaScript's BodyStream is full: stop reading until `resume`.
    pub fn pause(&self, handle: u32) {
        let mut st = lock(&self.st);
        if let Some(c) = st.cur.as_mut().filter(|c| c.handle == handle) {
            c.paused = true;
        }
    }

    pub fn resume(&self, handle: u32) {
        let mut st = lock(&self.st);
        if let Some(c) = st.cur.as_mut().filter(|c| c.handle == handle && c.paused) {
            c.paused = false;
            drop(st);
            self.wake.notify_one();
        }
    }

    /// JavaScript took `bytes` of this connection's body chunks off the queue.
    pub fn credit(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::AcqRel);
        if before >= READ_BUDGET && before - bytes < READ_BUDGET {
            self.wake.notify_one();
        }
    }

    pub fn drain_for_close(&self) {
        lock(&self.st).draining = true;
        self.wake.notify_one();
    }

    pub fn destroy(&self, reason: AbortReason) {
        lock(&self.st).destroy = Some(reason);
        self.wake.notify_one();
    }

    // ---- request bookkeeping (conn lock held) --------------------------------------------

    /// JavaScript is done with the request: undo its counter and handle.
    fn forget(&self, handle: u32) {
        Stats::dec(&self.shared.stats.requests_active);
        lock(&self.shared.handles).remove(&handle);
    }

    /// The request still running (if any) is gone: its signal aborts.
    fn abort_cur(&self, st: &mut HState, reason: AbortReason) {
        if let Some(cur) = st.cur.take() {
            if !cur.done {
                Stats::inc(&self.shared.stats.aborts);
                self.shared.emit(EV_ABORT, reason as u32, cur.handle, &[]);
                self.forget(cur.handle);
            }
        }
    }

    /// The client sent its FIN after the whole running request: its signal aborts, its response
    /// can still go out, and the connection closes after it.
    fn client_gone(&self, st: &mut HState) {
        if let Some(cur) = st.cur.as_mut().filter(|c| !c.done && c.body_done) {
            Stats::inc(&self.shared.stats.aborts);
            let arg = AbortReason::ConnectionClosed as u32 | ABORT_SIGNAL_ONLY;
            self.shared.emit(EV_ABORT, arg, cur.handle, &[]);
        }
    }

    /// Answers `status` with the short error response both engines use, and closes.
    fn refuse(&self, st: &mut HState, status: u16, why: &str) {
        Stats::inc(&self.shared.stats.errors);
        self.shared.log(Level::Info, why);
        let date = *st.date.get(SystemTime::now());
        error_response(st.out.buf(), status, Some(&date));
        st.closing = true;
    }

    /// A body that breaks its framing or the body limit: the handler's signal aborts; the
    /// client gets the error status if no response started, else the connection just closes.
    fn body_error(&self, st: &mut HState, e: HttpError) {
        let Some(cur) = st.cur.as_mut() else { return };
        let started = cur.enc.is_some() || cur.done;
        if !cur.done {
            cur.done = true;
            cur.keep_alive = false;
            let reason = if e == HttpError::BodyTooLarge {
                AbortReason::BodyTooLarge
            } else {
                AbortReason::ConnectionClosed
            };
            let handle = cur.handle;
            self.shared.emit(EV_ABORT, reason as u32, handle, &[]);
            self.forget(handle);
        }
        if started {
            Stats::inc(&self.shared.stats.errors);
            self.shared
                .log(Level::Info, &format!("bad HTTP request body: {e}"));
            st.closing = true;
        } else {
            self.refuse(st, e.status(), &format!("bad HTTP request body: {e}"));
        }
    }

    /// Parses and dispatches what the read buffer holds, as far as the current request
    /// allows (task side, conn lock held).
    fn process(self: &Arc<Self>, st: &mut HState, r: &mut Reader) {
        let sh = &self.shared;
        loop {
            if st.closing || st.destroy.is_some() {
                return;
            }
            let Some(cur) = st.cur.as_mut() else {
                if st.draining {
                    st.closing = true;
                    return;
                }
                let input = &r.buf[r.pos..];
                if input.is_empty() {
                    r.head_since = None;
                    st.closing |= st.peer_ended; // every request the client sent is answered
                    return;
                }
                r.head_since.get_or_insert_with(Instant::now);
                let consumed = match r.parser.parse(input) {
                    // a head the client's FIN cut short gets 400, as from node:http (blank
                    // lines between requests are not a head)
                    Ok(Status::Partial) if st.peer_ended => {
                        if input.iter().any(|&b| b != b'\r' && b != b'\n') {
                            return self.refuse(
                                st,
                                400,
                                "bad HTTP request: the connection ended in the middle of a request head",
                            );
                        }
                        st.closing = true;
                        return;
                    }
                    Ok(Status::Partial) => return,
                    Err(e) => {
                        return self.refuse(st, e.status(), &format!("bad HTTP request: {e}"))
                    }
                    Ok(Status::Complete { consumed }) => consumed,
                };
                let req = r.parser.request(input);
                // a Content-Length over maxBodyBytes was refused by the parser (413)
                let kind = req.body();
                r.params.clear();
                cgi_params(&req, &r.info, &mut r.params);
                let mut ctx = req.response_context();
                ctx.keep_alive_timeout = Some(sh.opts.idle_timeout.as_secs().min(1 << 30) as u32);
                let expect_continue = req.expect_continue();
                let handle = sh.new_handle();
                lock(&sh.handles).insert(handle, (AnyConn::Http(self.clone()), 0));
                Stats::inc(&sh.stats.requests_total);
                Stats::inc(&sh.stats.requests_active);
                // bit 18: every byte is ASCII (JavaScript decodes one latin1 string)
                let ascii = (r.params.is_ascii() as u32) << 18;
                sh.emit(
                    EV_REQUEST,
                    ascii | (ROLE_RESPONDER << 16),
                    handle,
                    &r.params,
                );
                if r.params.capacity() > 1 << 16 {
                    r.params = Vec::new();
                }
                if expect_continue && !st.peer_ended {
                    st.out.buf().extend_from_slice(CONTINUE);
                }
                r.body = BodyDecoder::new(kind, r.parser.limits());
                r.pos += consumed;
                r.head_since = None;
                let body_done = r.body.is_done();
                // bit 19 of a request's arg: its stdin ended in the same batch
                if body_done && !sh.events.mark_last_request(handle, 1 << 19) {
                    sh.emit(EV_STDIN_END, 0, handle, &[]);
                }
                st.cur = Some(Cur {
                    handle,
                    ctx,
                    enc: None,
                    done: false,
                    keep_alive: false,
                    paused: false,
                    wants_drain: false,
                    body_done,
                });
                if body_done && st.peer_ended {
                    self.client_gone(st); // sent before the FIN: answered, signal aborted
                }
                continue;
            };
            if !cur.body_done {
                // once the response ended, the rest of the body is read and dropped
                let discard = cur.done;
                if !discard && (cur.paused || self.queued.load(Ordering::Acquire) >= READ_BUDGET) {
                    return;
                }
                let chunk = match r.body.decode(&r.buf[r.pos..]) {
                    Ok(c) => c,
                    Err(e) => return self.body_error(st, e),
                };
                r.pos += chunk.consumed;
                if !discard && !chunk.data.is_empty() {
                    self.queued.fetch_add(chunk.data.len(), Ordering::AcqRel);
                    let me = self.clone();
                    if sh
                        .events
                        .push_chunk(EV_STDIN, cur.handle, chunk.data, self.id, || {
                            AnyConn::Http(me)
                        })
                    {
                        sh.wake();
                    }
                }
                if chunk.done {
                    cur.body_done = true;
                    if !discard {
                        sh.emit(EV_STDIN_END, 0, cur.handle, &[]);
                    }
                    if st.peer_ended {
                        self.client_gone(st);
                    }
                } else if chunk.needs_input() {
                    if st.peer_ended {
                        // the client's FIN came in the middle of this body: it never completes
                        // (a handler still waiting for it is aborted, and answered 400 as by
                        // node:http unless its response started)
                        if discard {
                            st.closing = true;
                        } else {
                            self.body_error(st, HttpError::TruncatedBody);
                        }
                    }
                    return;
                }
                continue;
            }
            if !cur.done {
                return; // the handler is still answering
            }
            let keep_alive = cur.keep_alive;
            st.cur = None;
            if !keep_alive {
                st.closing = true;
            }
        }
    }

    /// Drain event for a response waiting for room, once there is room.
    fn maybe_drain(&self, st: &mut HState) {
        let room = st.out.queued() < LOW_WATER;
        if let Some(c) = st.cur.as_mut().filter(|c| c.wants_drain && room) {
            c.wants_drain = false;
            self.shared.emit(EV_DRAIN, 0, c.handle, &[]);
        }
    }
}

/// The task's side of the connection: read buffer and parsers.
struct Reader {
    parser: RequestParser,
    body: BodyDecoder,
    info: ConnInfo,
    params: Vec<u8>,
    /// When the first byte of the head being parsed arrived (header timeout).
    head_since: Option<Instant>,
    buf: Vec<u8>,
    pos: usize,
}

pub fn spawn(conn: Arc<HttpConn>, stream: Stream) {
    spawn_guarded(run(conn.clone(), stream), move || {
        conn.shared.log(
            Level::Error,
            "internal error in an HTTP connection task (panic); connection closed",
        );
        let mut st = lock(&conn.st);
        conn.abort_cur(&mut st, AbortReason::ConnectionLost);
        drop(st);
        conn.shared.conn_closed(conn.id);
    });
}

fn limits(shared: &Shared) -> Limits {
    let o = &shared.opts;
    Limits {
        max_target_bytes: o.max_url_bytes,
        // as the js engine gives node:http's maxHeaderSize
        max_head_bytes: o.max_params_bytes.min(1 << 20),
        max_headers: o.max_params,
        max_body_bytes: o.max_body_bytes,
        ..Limits::default()
    }
}

async fn run(conn: Arc<HttpConn>, stream: Stream) {
    let stream = TaskStream::new(stream, {
        let conn = conn.clone();
        move || lock(&conn.st).out.detach()
    });
    let sh = conn.shared.clone();
    let idle = sh.opts.idle_timeout;
    let limits = limits(&sh);
    let (local, peer) = stream.addrs();
    let mut r = Reader {
        body: BodyDecoder::new(BodyKind::Empty, &limits),
        parser: RequestParser::new(limits),
        info: ConnInfo::new(local, peer),
        params: Vec::new(),
        head_since: None,
        buf: Vec::new(),
        pos: 0,
    };
    let mut wq = OutQueue::default();
    let mut last_activity = Instant::now();
    // after the FIN went out: read and drop until the peer closes or this deadline
    let mut linger: Option<Instant> = None;
    // the peer closed its side: no more reads
    let mut eof = false;
    let mut lost: Option<AbortReason> = None;
    lock(&conn.st).out.attach(stream.raw_fd());

    'main: loop {
        // A: parse and dispatch, take new output, decide whether to read
        let (want_read, head_deadline, closing, flushed, idle_drained) = {
            let mut guard = lock(&conn.st);
            let st = &mut *guard;
            if let Some(reason) = st.destroy.take() {
                conn.abort_cur(st, reason);
                break 'main;
            }
            if linger.is_none() {
                conn.process(st, &mut r);
            }
            if r.pos == r.buf.len() {
                r.buf.clear();
                r.pos = 0;
            }
            st.input_pending = r.pos < r.buf.len();
            st.out.take(&mut wq);
            conn.maybe_drain(st);
            let want_read = if linger.is_some() {
                true
            } else if eof || st.closing {
                false
            } else {
                match &st.cur {
                    None => true,
                    Some(c) if !c.body_done && !c.done => {
                        !c.paused && conn.queued.load(Ordering::Acquire) < READ_BUDGET
                    }
                    Some(c) if !c.body_done => true,
                    Some(_) => r.buf.len() - r.pos < PIPELINE_CAP,
                }
            };
            let head_deadline = match (&st.cur, st.closing) {
                (None, false) => r.head_since.map(|t| t + sh.opts.params_timeout),
                _ => None,
            };
            // a response still being produced (after the client's FIN) is not flushed yet
            let answering = st.cur.as_ref().is_some_and(|c| !c.done);
            let flushed = wq.is_empty() && !st.out.has_pending() && !answering;
            // server closing and this connection between requests: close it now, as
            // node:http's closeIdleConnections (no response was cut, nothing to linger for)
            let idle_drained = st.draining && st.cur.is_none() && r.pos == r.buf.len();
            (want_read, head_deadline, st.closing, flushed, idle_drained)
        };

        // B: write what the socket takes now
        if !wq.is_empty() {
            match write_ready(&stream, &mut wq, &sh, &mut last_activity) {
                Wrote::Flushed => continue 'main, // more output may have come meanwhile
                Wrote::Blocked => {}
                Wrote::Failed(e) => {
                    log_io_error(&sh, linger.is_some(), "write", &e);
                    lost = Some(AbortReason::ConnectionLost);
                    break 'main;
                }
            }
        }
        if closing && flushed && linger.is_none() {
            if eof || idle_drained {
                break 'main; // everything owed went out, the peer is gone
            }
            stream.shutdown_write();
            linger = Some(Instant::now() + LINGER);
        }

        // C: wait for the socket, the JS thread, or a deadline
        let deadline = next_deadline(linger, last_activity + idle, head_deadline);
        let interest = (want_read, !wq.is_empty());
        let woke = wait(
            &stream,
            interest,
            &conn.wake,
            deadline,
            &sh,
            linger.is_some(),
        )
        .await;
        let ready = match woke {
            Woke::Socket(ready) => ready,
            Woke::Lost => {
                lost = Some(AbortReason::ConnectionLost);
                break 'main;
            }
            Woke::Js => continue,
            Woke::Deadline if linger.is_some() => break 'main, // lingered long enough
            Woke::Deadline => {
                let now = Instant::now();
                let mut guard = lock(&conn.st);
                let st = &mut *guard;
                if let Some(t) = st.out.take_js_wrote() {
                    last_activity = last_activity.max(t);
                }
                if head_deadline.is_some_and(|d| d <= now) && st.cur.is_none() && !st.closing {
                    // slowloris: node:http answers 408 (ERR_HTTP_REQUEST_TIMEOUT)
                    conn.refuse(
                        st,
                        408,
                        &format!(
                            "bad HTTP request: headers not complete after {} ms",
                            sh.opts.params_timeout.as_millis()
                        ),
                    );
                } else if now >= last_activity + idle {
                    if st.cur.is_none() {
                        break 'main; // idle keep-alive connection: closed quietly, as node:http
                    }
                    last_activity = now; // a request is running: the handler decides
                }
                continue;
            }
        };
        if !(want_read && (ready.is_readable() || ready.is_read_closed())) {
            continue; // writable: B writes on the next turn
        }
        make_room(&mut r.buf, &mut r.pos, READ_CHUNK);
        match stream.try_read_buf(&mut r.buf) {
            Ok(0) => {
                if linger.is_some() {
                    break 'main;
                }
                let mut guard = lock(&conn.st);
                let st = &mut *guard;
                // the client's FIN (it may only have half-closed): the requests it sent whole
                // are answered, each with its signal aborted, as Go's net/http does; one cut
                // short is aborted; then the connection closes (A: `process` does the rest)
                eof = true;
                st.peer_ended = true;
                conn.client_gone(st);
            }
            Ok(n) => {
                sh.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                last_activity = Instant::now();
                if linger.is_some() {
                    r.buf.clear();
                    r.pos = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log_io_error(&sh, linger.is_some(), "read", &e);
                lost = Some(AbortReason::ConnectionLost);
                break 'main;
            }
        }
    }

    {
        let mut guard = lock(&conn.st);
        let st = &mut *guard;
        conn.abort_cur(st, lost.unwrap_or(AbortReason::ConnectionClosed));
        st.out.detach(); // before the socket closes: no more writes from the JS thread (TaskStream)
        st.closing = true;
    }
    drop(stream);
    sh.conn_closed(conn.id);
}

#[cfg(test)]
mod tests {
    use super::split_head;

    #[test]
    fn the_adapter_head_splits_into_status_and_headers() {
        let (status, headers) =
            split_head(b"404\r\nContent-Type: text/plain\r\nX-A: b: c\r\nX-E: \r\n");
        assert_eq!(status, 404);
        let h: Vec<_> = headers.collect();
        assert_eq!(
            h,
            vec![
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (&b"X-A"[..], &b"b: c"[..]),
                (&b"X-E"[..], &b""[..]),
            ]
        );
        assert_eq!(split_head(b"").0, 200);
        assert_eq!(split_head(b"99\r\n").0, 200);
    }
}
