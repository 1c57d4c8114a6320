//! FastCGI on the connection driver (driver.rs): records go into
//! `fcgi_proto::ServerConnection`, whose events become requests and body chunks for
//! JavaScript; responses are encoded with `fcgi_proto`'s encoder and response head. The
//! behaviour on every input is docs/protocol-behaviour.md, the same as the js engine's
//! (lib/engines/js/fcgi-connection.ts), whose log lines and counters it mirrors.

use fcgi_proto::record::MAX_CONTENT_LEN;
use fcgi_proto::response_head::stdout_response;
use fcgi_proto::{encoder, Event, RecordType, Role, ServerConfig, ServerConnection, Step};
use tokio::time::Instant;

use crate::driver::{Conn, Finish, Flow, Idle, Input, Part, Plan, State, Timer, Wire};
use crate::events::{
    lock, AbortReason, ArgFlag, LogLevel, EV_ABORT, EV_DATA, EV_DATA_END, EV_REQUEST, EV_STDIN,
    EV_STDIN_END,
};
use crate::output::Body;
use crate::server::{Shared, Stats};

/// Body bytes that arrived before their request's params ended, held here.
const EARLY_BUDGET: usize = 8 << 20;

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
    params_deadline: Option<Instant>,
}

pub(crate) struct FcgiWire {
    proto: ServerConnection,
    reqs: Vec<ReqInfo>,
    paused: usize,
    early_bytes: usize,
    close_when_idle: bool,
}

type St = State<FcgiWire>;
type C = Conn<FcgiWire>;

impl FcgiWire {
    pub fn new(shared: &Shared, overloaded: bool) -> Self {
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
            proto: ServerConnection::new(config),
            reqs: Vec::new(),
            paused: 0,
            early_bytes: 0,
            close_when_idle: false,
        }
    }

    fn find(&self, id: u16) -> Option<usize> {
        self.reqs.iter().position(|r| r.id == id)
    }

    /// The request JavaScript knows as `handle`, if it is still active.
    fn active(&self, id: u16, handle: u32) -> Option<usize> {
        self.find(id).filter(|&i| self.reqs[i].handle == handle)
    }
}

/// Terminate the streams, send END_REQUEST, free the id.
fn finish(st: &mut St, conn: &C, id: u16, app_status: u32) {
    let w = &mut st.wire;
    let Some(i) = w.find(id) else { return };
    let info = w.reqs.swap_remove(i);
    let keep_conn = w
        .proto
        .end_request(id, app_status, st.out.buf())
        .map_or(info.keep_conn, |s| s.keep_conn);
    forget(w, conn, &info);
    if !keep_conn {
        w.close_when_idle = true;
    }
}

/// The request left `reqs`: undo its counters and handle.
fn forget(w: &mut FcgiWire, conn: &C, info: &ReqInfo) {
    if info.paused {
        w.paused -= 1;
    }
    for (_, chunk) in &info.early {
        w.early_bytes -= chunk.len();
    }
    if info.handle != 0 {
        Stats::dec(&conn.shared.stats.requests_active);
        lock(&conn.shared.handles).remove(&info.handle);
    }
}

fn signal_abort(conn: &C, info: &ReqInfo, reason: AbortReason) {
    if info.handle != 0 {
        conn.shared.emit(EV_ABORT, reason as u32, info.handle, &[]);
    }
}

/// The body passed maxBodyBytes: abort the handler if one runs; fcgi-proto answers 413 or cuts
/// the response.
fn reject_body(st: &mut St, conn: &C, id: u16) {
    let w = &mut st.wire;
    let Some(i) = w.find(id) else { return };
    conn.shared
        .log(LogLevel::Warn, &fcgi_proto::body_too_large_message(id));
    Stats::inc(&conn.shared.stats.errors);
    signal_abort(conn, &w.reqs[i], AbortReason::BodyTooLarge);
    let info = w.reqs.swap_remove(i);
    let keep_conn = w
        .proto
        .refuse_body(id, info.head_sent, st.out.buf())
        .map_or(info.keep_conn, |s| s.keep_conn);
    forget(w, conn, &info);
    if !keep_conn {
        w.close_when_idle = true;
    }
}

fn body_event(w: &mut FcgiWire, conn: &C, id: u16, kind: u32, chunk: &[u8]) {
    let Some(i) = w.find(id) else { return };
    let handle = w.reqs[i].handle;
    if handle == 0 {
        w.early_bytes += chunk.len();
        w.reqs[i].early.push((kind, chunk.to_vec()));
    } else if chunk.is_empty() {
        let sh = &conn.shared;
        if kind != EV_STDIN_END
            || !sh
                .events
                .mark_last_request(handle, ArgFlag::StdinEnded as u32)
        {
            sh.emit(kind, 0, handle, &[]);
        }
    } else {
        conn.push_chunk(kind, handle, chunk);
    }
}

/// The params are complete: JavaScript gets the request, then the body that came early.
fn dispatch(w: &mut FcgiWire, conn: &C, id: u16, params: Vec<u8>) {
    let sh = &conn.shared;
    sh.check_panic_injection(&params);
    let Some(i) = w.find(id) else { return };
    let handle = sh.new_handle();
    let info = &mut w.reqs[i];
    info.params_deadline = None;
    info.handle = handle;
    let role = info.role.as_u16() as u32;
    let early = std::mem::take(&mut info.early);
    lock(&sh.handles).insert(handle, (conn.handle(), id));
    Stats::inc(&sh.stats.requests_total);
    Stats::inc(&sh.stats.requests_active);
    let ascii = if params.is_ascii() {
        ArgFlag::ParamsAscii as u32
    } else {
        0
    };
    sh.emit(
        EV_REQUEST,
        ascii | (role << 16) | id as u32,
        handle,
        &params,
    );
    for (kind, chunk) in early {
        w.early_bytes -= chunk.len();
        if chunk.is_empty() {
            sh.emit(kind, 0, handle, &[]);
        } else {
            conn.push_chunk(kind, handle, &chunk);
        }
    }
}

/// One event from the state machine.
fn on_event(st: &mut St, conn: &C, event: Event<'_>) {
    let sh = &conn.shared;
    let w = &mut st.wire;
    match event {
        Event::BeginRequest {
            id,
            role,
            keep_conn,
        } => w.reqs.push(ReqInfo {
            id,
            role,
            keep_conn,
            handle: 0,
            head_sent: false,
            early: Vec::new(),
            paused: false,
            params_deadline: Some(Instant::now() + sh.opts.params_timeout),
        }),
        Event::ParamsDone { id, params, .. } => dispatch(w, conn, id, params),
        Event::Stdin { id, chunk } => body_event(w, conn, id, EV_STDIN, chunk),
        Event::StdinEnd { id } => body_event(w, conn, id, EV_STDIN_END, &[]),
        Event::Data { id, chunk } => body_event(w, conn, id, EV_DATA, chunk),
        Event::DataEnd { id } => body_event(w, conn, id, EV_DATA_END, &[]),
        Event::BodyTooLarge { id } => reject_body(st, conn, id),
        Event::Abort { id } => {
            let Some(i) = w.find(id) else { return };
            if w.reqs[i].handle != 0 {
                Stats::inc(&sh.stats.aborts);
            }
            signal_abort(conn, &w.reqs[i], AbortReason::AbortRecord);
            finish(st, conn, id, 1);
        }
        Event::Refused {
            id,
            reason,
            keep_conn,
        } => {
            Stats::inc(&sh.stats.errors);
            // fcgi-proto wrote the answer (431: the js engine's bytes) and END_REQUEST
            if let Some(line) = reason.log_message(id) {
                sh.log(LogLevel::Warn, &line);
            }
            if reason.after_begin() {
                if let Some(i) = w.find(id) {
                    let info = w.reqs.swap_remove(i);
                    forget(w, conn, &info);
                }
            }
            if !keep_conn {
                w.close_when_idle = true;
            }
        }
    }
}

impl Wire for FcgiWire {
    const READ_CHUNK: usize = 128 << 10;
    const PANIC_LOG: &'static str =
        "internal error in a connection task (panic); connection closed";
    const LOST: AbortReason = AbortReason::ConnectionLost;

    /// One part of a response: head (CGI form, built by fcgi-proto), body, end.
    fn send(st: &mut St, conn: &C, part: Part<'_>) -> bool {
        let Part {
            handle,
            req: id,
            head,
            body,
            end,
        } = part;
        let Some(i) = st.wire.active(id, handle) else {
            return false;
        };
        let out = &mut st.out;
        if let Some(h) = &head {
            st.wire.reqs[i].head_sent = true;
            // a small copied body shares the head's record (fcgi-proto's INLINE_BODY_LIMIT)
            let inline = match &body {
                Some(Body::Copy(b)) => *b,
                _ => &[][..],
            };
            stdout_response(out.buf(), id, h.status, h.pairs(), inline);
        }
        match body {
            Some(Body::Copy(b)) if head.is_none() => encoder::stdout(out.buf(), id, b),
            Some(Body::Hold(b)) => {
                // the records' content stays in the Buffer (see output.rs)
                let total = (*b).as_ref().len();
                for start in (0..total).step_by(MAX_CONTENT_LEN) {
                    let len = MAX_CONTENT_LEN.min(total - start);
                    let (header, padding) =
                        encoder::record_frame(RecordType::Stdout, id, len as u16);
                    out.buf().extend_from_slice(&header);
                    out.hold(&b, start..start + len);
                    out.buf().extend_from_slice(padding);
                }
            }
            _ => {}
        }
        if end {
            finish(st, conn, id, 0);
        }
        true
    }

    fn stderr(st: &mut St, handle: u32, id: u16, chunk: &[u8]) -> bool {
        if chunk.is_empty() || st.wire.active(id, handle).is_none() {
            return false;
        }
        st.wire.proto.write_stderr(id, chunk, st.out.buf());
        true
    }

    /// The handler failed after the head went out: END_REQUEST(app 1).
    fn cut(st: &mut St, conn: &C, handle: u32, id: u16) -> bool {
        if st.wire.active(id, handle).is_none() {
            return false;
        }
        Stats::inc(&conn.shared.stats.errors);
        finish(st, conn, id, 1);
        true
    }

    fn set_paused(st: &mut St, handle: u32, id: u16, paused: bool) -> bool {
        let w = &mut st.wire;
        let Some(i) = w.active(id, handle) else {
            return false;
        };
        if w.reqs[i].paused == paused {
            return false;
        }
        w.reqs[i].paused = paused;
        if paused {
            w.paused += 1;
            false
        } else {
            w.paused -= 1;
            w.paused == 0
        }
    }

    fn task_has_work(st: &St) -> bool {
        st.wire.reqs.is_empty() && (st.wire.close_when_idle || st.draining)
    }

    /// Feeds whole records.
    fn on_input(st: &mut St, conn: &C, input: &mut Input) -> Flow {
        let (buf, pos) = (&input.buf, &mut input.pos);
        loop {
            let step = {
                let State { wire, out, .. } = &mut *st;
                wire.proto.feed(&buf[*pos..], out.buf())
            };
            match step {
                Ok(Step::Incomplete { .. }) => return Flow::Continue,
                Ok(Step::Record { consumed, event }) => {
                    *pos += consumed;
                    if let Some(event) = event {
                        on_event(st, conn, event);
                    }
                }
                Err(e) => {
                    let sh = &conn.shared;
                    sh.log(
                        LogLevel::Warn,
                        &format!(
                            "protocol error, closing the connection: {}",
                            e.log_message()
                        ),
                    );
                    Stats::inc(&sh.stats.errors);
                    Self::abort_all(st, conn, AbortReason::ConnectionClosed);
                    return Flow::Close;
                }
            }
        }
    }

    fn plan(st: &mut St, conn: &C, _input: &Input) -> Plan {
        let w = &st.wire;
        let idle_closing = w.reqs.is_empty() && (w.close_when_idle || st.draining);
        Plan {
            want_read: w.paused == 0 && w.early_bytes < EARLY_BUDGET && conn.budget_left(),
            deadline: w.reqs.iter().filter_map(|r| r.params_deadline).min(),
            finish: if idle_closing {
                Finish::Linger
            } else {
                Finish::Open
            },
        }
    }

    fn on_eof(st: &mut St, conn: &C, input: &Input) -> Flow {
        if !input.unread().is_empty() {
            conn.shared.log(
                LogLevel::Info,
                "connection closed in the middle of a record",
            );
        }
        Self::abort_all(st, conn, AbortReason::ConnectionClosed);
        Flow::Close
    }

    fn on_deadline(st: &mut St, conn: &C, now: Instant) -> Timer {
        let Some(id) = st
            .wire
            .reqs
            .iter()
            .find(|r| r.params_deadline.is_some_and(|d| d <= now))
            .map(|r| r.id)
        else {
            return Timer::NotMine;
        };
        let sh = &conn.shared;
        sh.log(
            LogLevel::Warn,
            &format!(
                "request {id}: params not complete after {} ms, closing the connection",
                sh.opts.params_timeout.as_millis()
            ),
        );
        Stats::inc(&sh.stats.errors);
        Self::abort_all(st, conn, AbortReason::ConnectionClosed);
        Timer::Close
    }

    fn on_idle(st: &mut St, conn: &C, _input: &Input, _flushed: bool) -> Idle {
        if !st.wire.reqs.is_empty() {
            return Idle::Busy;
        }
        conn.shared.log(
            LogLevel::Info,
            &format!(
                "idle connection closed after {} ms",
                conn.shared.opts.idle_timeout.as_millis()
            ),
        );
        Idle::Linger
    }

    fn abort_all(st: &mut St, conn: &C, reason: AbortReason) {
        let w = &mut st.wire;
        let reqs = std::mem::take(&mut w.reqs);
        for info in &reqs {
            if info.handle != 0 {
                Stats::inc(&conn.shared.stats.aborts);
            }
            signal_abort(conn, info, reason);
            forget(w, conn, info);
            w.proto.release(info.id);
        }
    }
}
