//! The connection driver, one for both protocols. A `Conn<W>` owns what every connection has:
//! the lock around its state, the output (output.rs) that the JS thread fills through `send` and
//! writes once per batch (`flush`), the read budget (`credit`), drain events, graceful close,
//! destroy, and the Tokio task that reads, writes, waits, lingers and closes. The protocol is the
//! `Wire` (fcgi_wire.rs, http_wire.rs): it parses the input and dispatches requests, says
//! whether to read, which deadline it has and when the connection should end, handles EOF,
//! deadlines and idleness, aborts its requests, and encodes responses. Every protocol rule
//! lives in the codecs (`fcgi-proto`, `fcgi-http`); a wire only connects them to this driver.
//!
//! The server and the JS-facing calls see a connection as `AnyConn`, a trait object
//! (`dyn Link`), whatever its protocol.

use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::events::{lock, AbortReason, LogLevel, EV_DRAIN};
use crate::head::Head;
use crate::output::{Body, OutQueue, Output};
use crate::server::Shared;
use crate::socket::{
    log_io_error, make_room, next_deadline, spawn_guarded, wait, write_ready, Stream, TaskStream,
    Woke, Wrote,
};

/// How long a closing connection keeps reading (and discarding) after its FIN.
const LINGER: Duration = Duration::from_secs(2);
/// `send` answers false once this much output waits for the socket...
const HIGH_WATER: usize = 1 << 20;
/// ...and a drain event goes out once it is below this.
const LOW_WATER: usize = 256 << 10;
/// Body bytes handed to JavaScript but not yet taken from the queue: past this the connection
/// stops reading (the BodyStream's own limit applies once JS has them). 1 MiB: a 1 GiB upload
/// still streams at about 1.1 GB/s, and the peak RSS grew 42 MiB instead of 55 MiB with 8 MiB
/// (smaller batches: V8 frees them sooner).
const READ_BUDGET: usize = 1 << 20;

/// A connection as the server and the JS-facing calls see it.
pub(crate) type AnyConn = Arc<dyn Link>;

/// One part of a response, as JavaScript sends it: `req` is the FastCGI request id (0 for
/// HTTP), `handle` the request as JavaScript knows it, the head only with the first part.
pub(crate) struct Part<'a> {
    pub handle: u32,
    pub req: u16,
    pub head: Option<Head<'a>>,
    pub body: Option<Body<'a>>,
    pub end: bool,
}

/// The protocol-independent surface of a connection. `req` is the FastCGI request id (0 for
/// HTTP), `handle` the request as JavaScript knows it.
pub(crate) trait Link: Send + Sync {
    fn id(&self) -> u64;
    /// JavaScript took `bytes` of this connection's body chunks off the queue.
    fn credit(&self, bytes: usize);
    /// Writes what `send` queued (JS thread, once per batch of responses).
    fn flush(&self);
    /// The server is closing: finish the requests in flight, then close.
    fn drain_for_close(&self);
    fn destroy(&self, reason: AbortReason);
    /// One part of a response. False: wait for the drain event.
    fn send(&self, part: Part<'_>) -> bool;
    fn stderr(&self, handle: u32, req: u16, chunk: &[u8]);
    /// The handler failed after the head went out.
    fn cut(&self, handle: u32, req: u16);
    /// JavaScript's BodyStream is full (`true`) or has room again.
    fn set_paused(&self, handle: u32, req: u16, paused: bool);
}

/// What `Wire::on_input` and `Wire::on_eof` tell the driver.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// Close now (the wire already aborted its requests and logged why).
    Close,
}

/// When the connection ends, as the wire sees it now.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Open,
    /// Linger now: send the FIN once the output is written, read and drop until the peer
    /// closes or the linger ends.
    Linger,
    /// Once everything owed is written: FIN, then linger.
    LingerWhenFlushed,
    /// Once everything owed is written: close.
    CloseWhenFlushed,
}

/// The wire's plan for the next wait.
pub(crate) struct Plan {
    pub want_read: bool,
    /// Its own deadline (params or request-head timeout).
    pub deadline: Option<Instant>,
    pub finish: Finish,
}

/// What a deadline meant to the wire.
pub(crate) enum Timer {
    /// Not its deadline: the driver checks the idle timeout.
    NotMine,
    /// Handled (e.g. answered 408): go on.
    Handled,
    Close,
}

/// The idle timeout passed.
pub(crate) enum Idle {
    /// A request is running: the handler decides; the timeout starts again.
    Busy,
    Close,
    Linger,
}

/// The task's read buffer: bytes before `pos` are consumed.
#[derive(Default)]
pub(crate) struct Input {
    pub buf: Vec<u8>,
    pub pos: usize,
}

impl Input {
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }
}

/// A connection's state behind its lock: the driver's part, and the wire.
pub(crate) struct State<W> {
    pub out: Output,
    /// The server is closing (`drain_for_close`).
    pub draining: bool,
    destroy: Option<AbortReason>,
    drain_waiters: Vec<u32>,
    pub wire: W,
}

/// A protocol, as the driver runs it. Every function is called with the connection's lock
/// held (`st`); `conn` gives the server, the event queue and the read budget.
pub(crate) trait Wire: Sized + Send + 'static {
    /// Bytes per read call, at most.
    const READ_CHUNK: usize;
    /// Logged when the task panics.
    const PANIC_LOG: &'static str;
    /// Why the requests abort when the connection ends without another reason.
    const LOST: AbortReason;

    /// Whether `flush` writes to the socket from the JS thread (else the task writes).
    fn direct_writes() -> bool {
        true
    }

    // ---- JS thread ----
    /// Encodes a response part; false when its request is not active (it goes nowhere).
    fn send(st: &mut State<Self>, conn: &Conn<Self>, part: Part<'_>) -> bool;
    /// True when output was queued.
    fn stderr(st: &mut State<Self>, handle: u32, req: u16, chunk: &[u8]) -> bool;
    /// True when output was queued or the task must act.
    fn cut(st: &mut State<Self>, conn: &Conn<Self>, handle: u32, req: u16) -> bool;
    /// True when the task must wake (reading may resume).
    fn set_paused(st: &mut State<Self>, handle: u32, req: u16, paused: bool) -> bool;
    /// After a flush: whether the task has something to do (next request, close...).
    fn task_has_work(st: &State<Self>) -> bool;

    // ---- task ----
    /// Parses and dispatches what `input` holds, consuming what it used.
    fn on_input(st: &mut State<Self>, conn: &Conn<Self>, input: &mut Input) -> Flow;
    fn plan(st: &mut State<Self>, conn: &Conn<Self>, input: &Input) -> Plan;
    /// The peer sent its FIN.
    fn on_eof(st: &mut State<Self>, conn: &Conn<Self>, input: &Input) -> Flow;
    fn on_deadline(st: &mut State<Self>, conn: &Conn<Self>, now: Instant) -> Timer;
    /// `flushed`: every byte owed was written; `input` may hold unparsed bytes.
    fn on_idle(st: &mut State<Self>, conn: &Conn<Self>, input: &Input, flushed: bool) -> Idle;
    /// Every request is gone: their signals abort.
    fn abort_all(st: &mut State<Self>, conn: &Conn<Self>, reason: AbortReason);
}

pub(crate) struct Conn<W: Wire> {
    pub id: u64,
    pub shared: Arc<Shared>,
    me: Weak<Conn<W>>,
    st: Mutex<State<W>>,
    wake: Notify,
    /// Body bytes pushed to the queue and not yet taken by JavaScript.
    queued: AtomicUsize,
    dirty: AtomicBool,
}

/// Starts a connection: registers it with the server and spawns its task.
pub(crate) fn start<W: Wire>(id: u64, shared: &Arc<Shared>, wire: W, stream: Stream) {
    let conn = Arc::new_cyclic(|me| Conn {
        id,
        shared: shared.clone(),
        me: me.clone(),
        st: Mutex::new(State {
            out: Output::default(),
            draining: false,
            destroy: None,
            drain_waiters: Vec::new(),
            wire,
        }),
        wake: Notify::new(),
        queued: AtomicUsize::new(0),
        dirty: AtomicBool::new(false),
    });
    lock(&shared.conns).insert(id, conn.clone());
    if shared.closing.load(Ordering::Acquire) {
        conn.drain_for_close(); // close() ran between the accept and the insert
    }
    spawn_guarded(run(conn.clone(), stream), move || {
        conn.shared.log(LogLevel::Error, W::PANIC_LOG);
        let mut st = lock(&conn.st);
        W::abort_all(&mut st, &conn, AbortReason::ConnectionLost);
        drop(st);
        conn.shared.conn_closed(conn.id);
    });
}

impl<W: Wire> Conn<W> {
    /// This connection as the server's handle tables and the event queue hold it.
    pub fn handle(&self) -> AnyConn {
        self.me
            .upgrade()
            .expect("a connection is alive while its methods run")
    }

    /// Whether the body chunks JavaScript has not taken yet leave room to read more.
    pub fn budget_left(&self) -> bool {
        self.queued.load(Ordering::Acquire) < READ_BUDGET
    }

    /// A body chunk for JavaScript, counted against the read budget.
    pub fn push_chunk(&self, kind: u32, handle: u32, chunk: &[u8]) {
        self.queued.fetch_add(chunk.len(), Ordering::AcqRel);
        if self
            .shared
            .events
            .push_chunk(kind, handle, chunk, self.id, || self.handle())
        {
            self.shared.wake();
        }
    }

    /// New output from the JS thread: the task is woken by the next `flush` (once per batch
    /// of responses, not once per response).
    fn mark_dirty(&self) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            lock(&self.shared.dirty).push(self.handle());
        }
    }

    /// Drain events for the responses waiting for room, once there is room.
    fn maybe_drain(&self, st: &mut State<W>) {
        if st.drain_waiters.is_empty() || st.out.queued() >= LOW_WATER {
            return;
        }
        for handle in std::mem::take(&mut st.drain_waiters) {
            self.shared.emit(EV_DRAIN, 0, handle, &[]);
        }
    }
}

impl<W: Wire> Link for Conn<W> {
    fn id(&self) -> u64 {
        self.id
    }

    fn credit(&self, bytes: usize) {
        let before = self.queued.fetch_sub(bytes, Ordering::AcqRel);
        if before >= READ_BUDGET && before - bytes < READ_BUDGET {
            self.wake.notify_one();
        }
    }

    /// Straight to the socket when the task has nothing in flight, else (or for the rest) by
    /// waking the task.
    fn flush(&self) {
        self.dirty.store(false, Ordering::Release);
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let mut wake_task = if W::direct_writes() {
            st.out.flush_now(&self.shared)
        } else {
            st.out.has_pending()
        };
        if !st.drain_waiters.is_empty() || st.destroy.is_some() || W::task_has_work(st) {
            wake_task = true;
        }
        drop(guard);
        if wake_task {
            self.wake.notify_one();
        }
    }

    fn drain_for_close(&self) {
        lock(&self.st).draining = true;
        self.wake.notify_one();
    }

    fn destroy(&self, reason: AbortReason) {
        lock(&self.st).destroy = Some(reason);
        self.wake.notify_one();
    }

    fn send(&self, part: Part<'_>) -> bool {
        let (handle, end) = (part.handle, part.end);
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        if !W::send(st, self, part) {
            return true; // aborted or cut: the response goes nowhere
        }
        let ok = st.out.queued() < HIGH_WATER;
        if !ok && !end && !st.drain_waiters.contains(&handle) {
            st.drain_waiters.push(handle);
        }
        drop(guard);
        self.mark_dirty();
        ok
    }

    fn stderr(&self, handle: u32, req: u16, chunk: &[u8]) {
        if W::stderr(&mut lock(&self.st), handle, req, chunk) {
            self.mark_dirty();
        }
    }

    fn cut(&self, handle: u32, req: u16) {
        if W::cut(&mut lock(&self.st), self, handle, req) {
            self.mark_dirty();
        }
    }

    fn set_paused(&self, handle: u32, req: u16, paused: bool) {
        if W::set_paused(&mut lock(&self.st), handle, req, paused) {
            self.wake.notify_one();
        }
    }
}

/// The connection task: A) parse and dispatch, take new output, plan; B) write what the socket
/// takes; C) wait for the socket, the JS thread or a deadline, then read.
async fn run<W: Wire>(conn: Arc<Conn<W>>, stream: Stream) {
    let stream = TaskStream::new(stream, {
        let conn = conn.clone();
        move || lock(&conn.st).out.detach()
    });
    let sh = conn.shared.clone();
    let idle = sh.opts.idle_timeout;
    let mut input = Input::default();
    let mut wq = OutQueue::default();
    let mut last_activity = Instant::now();
    // after the FIN went out (or is about to): read and drop until the peer closes or this
    let mut linger: Option<Instant> = None;
    let mut shut = false;
    // the peer closed its side: no more reads
    let mut eof = false;
    // why the loop ended, for the requests still running
    let mut lost: Option<AbortReason> = None;
    lock(&conn.st).out.attach(stream.raw_fd());

    'main: loop {
        // A: parse and dispatch, take new output, plan
        let (want_read, deadline, finish, flushed) = {
            let mut guard = lock(&conn.st);
            let st = &mut *guard;
            if let Some(reason) = st.destroy.take() {
                W::abort_all(st, &conn, reason);
                break 'main;
            }
            if linger.is_none() && W::on_input(st, &conn, &mut input) == Flow::Close {
                // best effort: what was answered before the bad input goes out
                let write = |slices: &[IoSlice<'_>]| stream.try_write_vectored(slices);
                if !wq.is_empty() {
                    let _ = wq.write_with(write);
                } else {
                    st.out.write_unsent(write);
                }
                break 'main;
            }
            if input.pos == input.buf.len() {
                input.clear();
            }
            st.out.take(&mut wq);
            conn.maybe_drain(st);
            let plan = W::plan(st, &conn, &input);
            if plan.finish == Finish::Linger && linger.is_none() {
                linger = Some(Instant::now() + LINGER);
            }
            let flushed = wq.is_empty() && !st.out.has_pending();
            let want_read = linger.is_some() || (!eof && plan.want_read);
            (want_read, plan.deadline, plan.finish, flushed)
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
        if flushed && linger.is_none() {
            match finish {
                Finish::CloseWhenFlushed => break 'main, // everything owed went out
                Finish::LingerWhenFlushed => linger = Some(Instant::now() + LINGER),
                Finish::Open | Finish::Linger => {}
            }
        }
        if linger.is_some() && !shut && wq.is_empty() {
            stream.shutdown_write();
            shut = true;
        }

        // C: wait for the socket, the JS thread, or a deadline
        let deadline = next_deadline(linger, last_activity + idle, deadline);
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
                match W::on_deadline(st, &conn, now) {
                    Timer::Close => break 'main,
                    Timer::Handled => continue,
                    Timer::NotMine => {}
                }
                if now >= last_activity + idle {
                    let flushed = wq.is_empty() && !st.out.has_pending();
                    match W::on_idle(st, &conn, &input, flushed) {
                        Idle::Busy => last_activity = now,
                        Idle::Close => break 'main,
                        Idle::Linger => linger = Some(now + LINGER),
                    }
                }
                continue;
            }
        };
        if !(want_read && (ready.is_readable() || ready.is_read_closed())) {
            continue; // writable: B writes on the next turn
        }
        make_room(&mut input.buf, &mut input.pos, W::READ_CHUNK);
        match stream.try_read_buf(&mut input.buf) {
            Ok(0) => {
                if linger.is_some() {
                    break 'main;
                }
                let mut guard = lock(&conn.st);
                if W::on_eof(&mut guard, &conn, &input) == Flow::Close {
                    break 'main;
                }
                eof = true;
            }
            Ok(n) => {
                sh.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
                last_activity = Instant::now();
                if linger.is_some() {
                    input.clear();
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
        W::abort_all(st, &conn, lost.unwrap_or(W::LOST));
        st.out.detach(); // before the socket closes: no more writes from the JS thread (TaskStream)
        for handle in std::mem::take(&mut st.drain_waiters) {
            sh.emit(EV_DRAIN, 0, handle, &[]);
        }
    }
    drop(stream);
    sh.conn_closed(conn.id);
}
