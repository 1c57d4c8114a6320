//! One FastCGI connection: a Tokio task reads records into `fcgi_proto::ServerConnection`,
//! pushes requests and body chunks to JavaScript, and writes the connection's output
//! (output.rs), which the JS thread fills through `send` (one synchronous call per response
//! part). The socket side of the task (waiting, writing, the panic guard) is socket.rs, shared
//! with the HTTP task (http_conn.rs). The behaviour on every input is docs/protocol-behaviour.md, the same as the js
//! engine (lib/engines/js/fcgi-connection.ts), whose log lines and counters it mirrors.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fcgi_proto::record::MAX_CONTENT_LEN;
use fcgi_proto::response_head::INLINE_BODY_LIMIT;
use fcgi_proto::{encoder, Event, RecordType, Role, ServerConfig, ServerConnection, Step};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::events::{
    lock, AbortReason, Level, EV_ABORT, EV_DATA, EV_DATA_END, EV_DRAIN, EV_REQUEST, EV_STDIN,
    EV_STDIN_END,
};
use crate::output::{Body, OutQueue, Output};
use crate::server::{AnyConn, Shared, Stats};
use crate::socket::{
    log_io_error, make_room, next_deadline, spawn_guarded, wait, write_ready, Stream, TaskStream,
    Woke, Wrote,
};

/// How long a closing connection keeps reading (and discarding) after its FIN.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
/// `send` answers false once this much output waits for the socket...
pub(crate) const HIGH_WATER: usize = 1 << 20;
/// ...and a drain event goes out once it is below this.
pub(crate) const LOW_WATER: usize = 256 << 10;
/// Body bytes handed to JavaScript but not yet taken from the queue: past this the
/// connection stops reading (the BodyStream's own limit applies once JS has them). 1 MiB, as
/// HTTP's: a 1 GiB upload still streams at about 1.1 GB/s, and the peak RSS grew 42 MiB
/// instead of 55 MiB with 8 MiB (smaller batches: V8 frees them sooner).
pub(crate) const READ_BUDGET: usize = 1 << 20;
/// Body bytes that arrived before their request's params ended, held here.
const EARLY_BUDGET: usize = 8 << 20;
pub(crate) const READ_CHUNK: usize = 128 << 10;

struct ReqInfo {
    id: u16,
    role: Role,
    keep_conn: bool,
    /// 0 until the params are complete and JavaScript knows the request.
    handle: u32,
    head_sent: bool,
    /// Body events that came before the params ended.
    early: Vec<(u32, Vec<u8>)>,
    paused: bool,
    wants_drain: bool,
    params_deadline: Option<Instant>,
}

pub struct ConnState {
    proto: ServerConnection,
    out: Output,
    reqs: Vec<ReqInfo>,
    paused: usize,
    early_bytes: usize,
    close_when_idle: bool,
    draining: bool,
    destroy: Option<AbortReason>,
    drain_waiters: Vec<u32>,
    closed: bool,
    scratch: Vec<u8>,
}

impl ConnState {
    fn find(&self, id: u16) -> Option<usize> {
        self.reqs.iter().position(|r| r.id == id)
    }

    /// The request JavaScript knows as `handle`, if it is still active.
    fn active(&self, id: u16, handle: u32) -> Option<usize> {
        self.find(id).filter(|&i| self.reqs[i].handle == handle)
    }
}

pub struct Conn {
    pub id: u64,
    pub shared: Arc<Shared>,
    st: Mutex<ConnState>,
    wake: Notify,
    queued: AtomicUsize,
    dirty: AtomicBool,
}

enum Fatal {
    /// Already handled (logged, requests aborted): just close.
    Close,
}

impl Conn {
    pub fn new(id: u64, shared: Arc<Shared>, overloaded: bool) -> Self {
        let o = &shared.opts;
        let config = ServerConfig {
            max_reqs: o.max_reqs,
            max_conns: o.max_conns,
            max_params_bytes: o.max_params_bytes,
            max_params: o.max_params,
            max_body_bytes: o.max_body_bytes,
            overloaded,
        };
        Self {
            id,
            st: Mutex::new(ConnState {
                proto: ServerConnection::new(config),
                out: Output::default(),
                reqs: Vec::new(),
                paused: 0,
                early_bytes: 0,
                close_when_idle: false,
                draining: false,
                destroy: None,
                drain_waiters: Vec::new(),
                closed: false,
                scratch: Vec::new(),
            }),
            shared,
            wake: Notify::new(),
            queued: AtomicUsize::new(0),
            dirty: AtomicBool::new(false),
        }
    }

    // ---- called from the JS thread -------------------------------------------------------

    /// One part of a response: head (CGI text, latin1), body, end. False: wait for drain.
    pub fn send(
        self: &Arc<Self>,
        handle: u32,
        id: u16,
        head: Option<&[u8]>,
        body: Option<Body<'_>>,
        end: bool,
    ) -> bool {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let Some(i) = st.active(id, handle) else {
            return true; // aborted or cut: the response goes nowhere
        };
        match (head, body) {
            (Some(h), Some(Body::Copy(b))) if b.len() < INLINE_BODY_LIMIT => {
                st.reqs[i].head_sent = true;
                st.scratch.clear();
                st.scratch.extend_from_slice(h);
                st.scratch.extend_from_slice(b);
                encoder::stdout(st.out.buf(), id, &st.scratch);
                if st.scratch.capacity() > 1 << 16 {
                    st.scratch = Vec::new();
                }
            }
            (h, b) => {
                if let Some(h) = h {
                    st.reqs[i].head_sent = true;
                    encoder::stdout(st.out.buf(), id, h);
                }
                match b {
                    Some(Body::Copy(b)) => encoder::stdout(st.out.buf(), id, b),
                    Some(Body::Hold(b)) => {
                        // the records' content stays in the Buffer (see output.rs)
                        let total = (*b).as_ref().len();
                        for start in (0..total).step_by(MAX_CONTENT_LEN) {
                            let len = MAX_CONTENT_LEN.min(total - start);
                            let (header, padding) =
                                encoder::record_frame(RecordType::Stdout, id, len as u16);
                            st.out.buf().extend_from_slice(&header);
                            st.out.hold(&b, start..start + len);
                            st.out.buf().extend_from_slice(padding);
                        }
                    }
                    None => {}
                }
            }
        }
        let mut ok = st.out.queued() < HIGH_WATER;
        if end {
            self.finish(st, id, 0);
            ok = st.out.queued() < HIGH_WATER;
        } else if !ok && !st.reqs[i].wants_drain {
            st.reqs[i].wants_drain = true;
            st.drain_waiters.push(handle);
        }
        drop(guard);
        self.mark_dirty();
        ok
    }

    /// New output from the JS thread: the task is woken by the next `flush` (once per
    /// batch of responses, not once per response).
    fn mark_dirty(self: &Arc<Self>) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            lock(&self.shared.dirty).push(AnyConn::Fcgi(self.clone()));
        }
    }

    /// Writes what `send` queued (JS thread, once per batch of responses): straight to the
    /// socket when the task has nothing in flight, else (or for the rest) by waking the task.
    pub fn flush(&self) {
        self.dirty.store(false, Ordering::Release);
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let mut wake_task = st.out.flush_now(&self.shared);
        if !st.drain_waiters.is_empty()
            || st.destroy.is_some()
            || (st.reqs.is_empty() && (st.close_when_idle || st.draining))
        {
            wake_task = true;
        }
        drop(guard);
        if wake_task {
            self.wake.notify_one();
        }
    }

    pub fn stderr(self: &Arc<Self>, handle: u32, id: u16, chunk: &[u8]) {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        if chunk.is_empty() || st.active(id, handle).is_none() {
            return;
        }
        st.proto.write_stderr(id, chunk, st.out.buf());
        drop(guard);
        self.mark_dirty();
    }

    /// The handler failed after the head went out: END_REQUEST(app 1).
    pub fn cut(self: &Arc<Self>, handle: u32, id: u16) {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        if st.active(id, handle).is_none() {
            return;
        }
        Stats::inc(&self.shared.stats.errors);
        self.finish(st, id, 1);
        drop(guard);
        self.mark_dirty();
    }

    /// JavaScript's BodyStream is full: stop reading until `resume`.
    pub fn pause(&self, handle: u32, id: u16) {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        if let Some(i) = st.active(id, handle) {
            if !st.reqs[i].paused {
                st.reqs[i].paused = true;
                st.paused += 1;
            }
        }
    }

    pub fn resume(&self, handle: u32, id: u16) {
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        if let Some(i) = st.active(id, handle) {
            if st.reqs[i].paused {
                st.reqs[i].paused = false;
                st.paused -= 1;
                if st.paused == 0 {
                    drop(guard);
                    self.wake.notify_one();
                }
            }
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

    /// Terminate the streams, send END_REQUEST, free the id.
    fn finish(&self, st: &mut ConnState, id: u16, app_status: u32) {
        let Some(i) = st.find(id) else { return };
        let info = st.reqs.swap_remove(i);
        let keep_conn = st
            .proto
            .end_request(id, app_status, st.out.buf())
            .map_or(info.keep_conn, |s| s.keep_conn);
        self.forget(st, &info);
        if !keep_conn {
            st.close_when_idle = true;
        }
    }

    /// The request left `reqs`: undo its counters and handle.
    fn forget(&self, st: &mut ConnState, info: &ReqInfo) {
        if info.paused {
            st.paused -= 1;
        }
        for (_, chunk) in &info.early {
            st.early_bytes -= chunk.len();
        }
        if info.handle != 0 {
            Stats::dec(&self.shared.stats.requests_active);
            lock(&self.shared.handles).remove(&info.handle);
        }
    }

    fn signal_abort(&self, info: &ReqInfo, reason: AbortReason) {
        if info.handle != 0 {
            self.shared.emit(EV_ABORT, reason as u32, info.handle, &[]);
        }
    }

    /// Every request is gone (connection closed or lost): their signals abort.
    fn abort_all(&self, st: &mut ConnState, reason: AbortReason) {
        let reqs = std::mem::take(&mut st.reqs);
        for info in &reqs {
            if info.handle != 0 {
                Stats::inc(&self.shared.stats.aborts);
            }
            self.signal_abort(info, reason);
            self.forget(st, info);
            st.proto.release(info.id);
        }
    }

    /// The body passed maxBodyBytes: abort the handler if one runs; fcgi-proto answers 413
    /// or cuts the response.
    fn reject_body(&self, st: &mut ConnState, id: u16) {
        let Some(i) = st.find(id) else { return };
        self.shared
            .log(Level::Warn, &fcgi_proto::body_too_large_message(id));
        Stats::inc(&self.shared.stats.errors);
        self.signal_abort(&st.reqs[i], AbortReason::BodyTooLarge);
        let info = st.reqs.swap_remove(i);
        let keep_conn = st
            .proto
            .refuse_body(id, info.head_sent, st.out.buf())
            .map_or(info.keep_conn, |s| s.keep_conn);
        self.forget(st, &info);
        if !keep_conn {
            st.close_when_idle = true;
        }
    }

    fn body_event(self: &Arc<Self>, st: &mut ConnState, id: u16, kind: u32, chunk: &[u8]) {
        let Some(i) = st.find(id) else { return };
        let handle = st.reqs[i].handle;
        if handle == 0 {
            st.early_bytes += chunk.len();
            st.reqs[i].early.push((kind, chunk.to_vec()));
        } else if chunk.is_empty() {
            // bit 19 of a request's arg: its stdin ended in the same batch
            if kind != EV_STDIN_END || !self.shared.events.mark_last_request(handle, 1 << 19) {
                self.shared.emit(kind, 0, handle, &[]);
            }
        } else {
            self.queued.fetch_add(chunk.len(), Ordering::AcqRel);
            if self
                .shared
                .events
                .push_chunk(kind, handle, chunk, self.id, || AnyConn::Fcgi(self.clone()))
            {
                self.shared.wake();
            }
        }
    }

    /// One event from the state machine.
    fn on_event(self: &Arc<Self>, st: &mut ConnState, event: Event<'_>) {
        let sh = &self.shared;
        match event {
            Event::BeginRequest {
                id,
                role,
                keep_conn,
            } => st.reqs.push(ReqInfo {
                id,
                role,
                keep_conn,
                handle: 0,
                head_sent: false,
                early: Vec::new(),
                paused: false,
                wants_drain: false,
                params_deadline: Some(Instant::now() + sh.opts.params_timeout),
            }),
            Event::ParamsDone { id, params, .. } => {
                if let Some(name) = &sh.opts.panic_param {
                    let injected = fcgi_proto::params::pairs(&params)
                        .filter_map(Result::ok)
                        .any(|pair| pair.name == name.as_slice());
                    assert!(!injected, "fault injection: FCGI_NATIVE_PANIC_PARAM");
                }
                let Some(i) = st.find(id) else { return };
                let handle = sh.new_handle();
                let info = &mut st.reqs[i];
                info.params_deadline = None;
                info.handle = handle;
                let role = info.role.as_u16() as u32;
                let early = std::mem::take(&mut info.early);
                lock(&sh.handles).insert(handle, (AnyConn::Fcgi(self.clone()), id));
                Stats::inc(&sh.stats.requests_total);
                Stats::inc(&sh.stats.requests_active);
                // bit 18: every byte is ASCII, so JavaScript may decode names and values
                // from one latin1 string
                let ascii = (params.is_ascii() as u32) << 18;
                sh.emit(
                    EV_REQUEST,
                    ascii | (role << 16) | id as u32,
                    handle,
                    &params,
                );
                for (kind, chunk) in early {
                    st.early_bytes -= chunk.len();
                    if chunk.is_empty() {
                        sh.emit(kind, 0, handle, &[]);
                    } else {
                        self.queued.fetch_add(chunk.len(), Ordering::AcqRel);
                        if sh.events.push_chunk(kind, handle, &chunk, self.id, || {
                            AnyConn::Fcgi(self.clone())
                        }) {
                            sh.wake();
                        }
                    }
                }
            }
            Event::Stdin { id, chunk } => self.body_event(st, id, EV_STDIN, chunk),
            Event::StdinEnd { id } => self.body_event(st, id, EV_STDIN_END, &[]),
            Event::Data { id, chunk } => self.body_event(st, id, EV_DATA, chunk),
            Event::DataEnd { id } => self.body_event(st, id, EV_DATA_END, &[]),
            Event::BodyTooLarge { id } => self.reject_body(st, id),
            Event::Abort { id } => {
                let Some(i) = st.find(id) else { return };
                if st.reqs[i].handle != 0 {
                    Stats::inc(&sh.stats.aborts);
                }
                self.signal_abort(&st.reqs[i], AbortReason::AbortRecord);
                self.finish(st, id, 1);
            }
            Event::Refused {
                id,
                reason,
                keep_conn,
            } => {
                Stats::inc(&sh.stats.errors);
                // fcgi-proto wrote the answer (431: the js engine's bytes) and END_REQUEST
                if let Some(line) = reason.log_message(id) {
                    sh.log(Level::Warn, &line);
                }
                if reason.after_begin() {
                    if let Some(i) = st.find(id) {
                        let info = st.reqs.swap_remove(i);
                        self.forget(st, &info);
                    }
                }
                if !keep_conn {
                    st.close_when_idle = true;
                }
            }
        }
    }

    /// Feeds whole records from `buf`; returns how many bytes were consumed.
    fn process(self: &Arc<Self>, st: &mut ConnState, buf: &[u8]) -> Result<usize, Fatal> {
        let mut pos = 0;
        loop {
            let step = {
                let ConnState { proto, out, .. } = &mut *st;
                proto.feed(&buf[pos..], out.buf())
            };
            match step {
                Ok(Step::Incomplete { .. }) => return Ok(pos),
                Ok(Step::Record { consumed, event }) => {
                    pos += consumed;
                    if let Some(event) = event {
                        self.on_event(st, event);
                    }
                }
                Err(e) => {
                    self.shared.log(
                        Level::Warn,
                        &format!("protocol error, closing the connection: {}", e.log_message()),
                    );
                    Stats::inc(&self.shared.stats.errors);
                    self.abort_all(st, AbortReason::ConnectionClosed);
                    return Err(Fatal::Close);
                }
            }
        }
    }

    /// Drain events for the responses waiting for room, once there is room.
    fn maybe_drain(&self, st: &mut ConnState) {
        if st.drain_waiters.is_empty() || st.out.queued() >= LOW_WATER {
            return;
        }
        for handle in std::mem::take(&mut st.drain_waiters) {
            if let Some(r) = st.reqs.iter_mut().find(|r| r.handle == handle) {
                r.wants_drain = false;
            }
            self.shared.emit(EV_DRAIN, 0, handle, &[]);
        }
    }
}

pub fn spawn(conn: Arc<Conn>, stream: Stream) {
    spawn_guarded(run(conn.clone(), stream), move || {
        conn.shared.log(
            Level::Error,
            "internal error in a connection task (panic); connection closed",
        );
        let mut st = lock(&conn.st);
        conn.abort_all(&mut st, AbortReason::ConnectionLost);
        st.closed = true;
        drop(st);
        conn.shared.conn_closed(conn.id);
    });
}

async fn run(conn: Arc<Conn>, stream: Stream) {
    let stream = TaskStream::new(stream, {
        let conn = conn.clone();
        move || lock(&conn.st).out.detach()
    });
    let sh = conn.shared.clone();
    let idle = sh.opts.idle_timeout;
    let mut rbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut rpos = 0usize;
    let mut wq = OutQueue::default();
    let mut last_activity = Instant::now();
    let mut linger: Option<Instant> = None;
    let mut shut = false;
    // why the loop ended, for the connection-lost path
    let mut lost: Option<AbortReason> = None;
    lock(&conn.st).out.attach(stream.raw_fd());

    'main: loop {
        // A: take new output, decide whether to read, find the next deadline
        let (want_read, params_deadline) = {
            let mut guard = lock(&conn.st);
            let st = &mut *guard;
            if let Some(reason) = st.destroy.take() {
                conn.abort_all(st, reason);
                break 'main;
            }
            st.out.take(&mut wq);
            if linger.is_none() && st.reqs.is_empty() && (st.close_when_idle || st.draining) {
                linger = Some(Instant::now() + LINGER);
            }
            conn.maybe_drain(st);
            let want_read = linger.is_some()
                || (st.paused == 0
                    && st.early_bytes < EARLY_BUDGET
                    && conn.queued.load(Ordering::Acquire) < READ_BUDGET);
            let pd = st.reqs.iter().filter_map(|r| r.params_deadline).min();
            (want_read, pd)
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
        if linger.is_some() && !shut && wq.is_empty() {
            stream.shutdown_write();
            shut = true;
        }

        // C: wait for the socket, the JS thread, or a deadline
        let deadline = next_deadline(linger, last_activity + idle, params_deadline);
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
                if let Some(id) = st
                    .reqs
                    .iter()
                    .find(|r| r.params_deadline.is_some_and(|d| d <= now))
                    .map(|r| r.id)
                {
                    sh.log(
                        Level::Warn,
                        &format!(
                            "request {id}: params not complete after {} ms, closing the connection",
                            sh.opts.params_timeout.as_millis()
                        ),
                    );
                    Stats::inc(&sh.stats.errors);
                    conn.abort_all(st, AbortReason::ConnectionClosed);
                    break 'main;
                }
                if now >= last_activity + idle {
                    if st.reqs.is_empty() {
                        sh.log(
                            Level::Info,
                            &format!("idle connection closed after {} ms", idle.as_millis()),
                        );
                        linger = Some(now + LINGER);
                    } else {
                        last_activity = now;
                    }
                }
                continue;
            }
        };
        if !(want_read && (ready.is_readable() || ready.is_read_closed())) {
            continue; // writable: B writes on the next turn
        }
        make_room(&mut rbuf, &mut rpos, READ_CHUNK);
        match stream.try_read_buf(&mut rbuf) {
            Ok(0) => {
                if linger.is_none() {
                    if rpos < rbuf.len() {
                        sh.log(Level::Info, "connection closed in the middle of a record");
                    }
                    let mut st = lock(&conn.st);
                    conn.abort_all(&mut st, AbortReason::ConnectionClosed);
                }
                break 'main;
            }
            Ok(n) => {
                sh.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                last_activity = Instant::now();
                if linger.is_some() {
                    rbuf.clear();
                    rpos = 0;
                    continue;
                }
                let mut guard = lock(&conn.st);
                match conn.process(&mut guard, &rbuf[rpos..]) {
                    Ok(consumed) => {
                        rpos += consumed;
                        if rpos == rbuf.len() {
                            rbuf.clear();
                            rpos = 0;
                        }
                    }
                    Err(Fatal::Close) => {
                        // best effort: what was answered before the bad record goes out
                        let st = &mut *guard;
                        let write =
                            |slices: &[std::io::IoSlice<'_>]| stream.try_write_vectored(slices);
                        if !wq.is_empty() {
                            let _ = wq.write_with(write);
                        } else {
                            st.out.write_unsent(write);
                        }
                        break 'main;
                    }
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
        conn.abort_all(st, lost.unwrap_or(AbortReason::ConnectionLost));
        st.closed = true;
        st.out.detach(); // before the socket closes: no more writes from the JS thread (TaskStream)
        for handle in std::mem::take(&mut st.drain_waiters) {
            sh.emit(EV_DRAIN, 0, handle, &[]);
        }
    }
    drop(stream);
    sh.conn_closed(conn.id);
}
