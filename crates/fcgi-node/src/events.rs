//! The one queue from Tokio to JavaScript.
//!
//! Rust pushes events (new request, body chunk, abort, drain, log line, closed) into a
//! batch; the first push after JavaScript took the previous batch wakes JavaScript through
//! the server's single threadsafe function. On the JS thread the whole batch becomes ONE
//! Buffer: the payload bytes, then a table of `u32` quadruples
//! `[kind | arg << 8, handle, offset, length]`, then the number of events.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use napi_derive::napi;

use crate::driver::AnyConn;

/// The kinds of events in a batch. Exported to JavaScript (`EventKind` in the generated
/// binding/index.d.cts), which switches on the same names.
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A request's params arrived: arg = flags (`ArgFlag`) | role << 16 | FastCGI id, payload =
    /// the raw pairs.
    Request = 1,
    /// A stdin chunk (payload).
    Stdin = 2,
    StdinEnd = 3,
    /// A FCGI_DATA chunk (payload).
    Data = 4,
    DataEnd = 5,
    /// The request is gone: arg = an `AbortReason`, plus `ArgFlag::SignalOnly` when only its
    /// signal aborts and its response can still be sent.
    Abort = 6,
    /// The connection's write buffer has room again.
    Drain = 7,
    /// A log line: arg = a `LogLevel`, payload = the message.
    Log = 8,
    /// The server closed: every connection is gone.
    Closed = 9,
}

/// Bits of an event's arg beyond its value.
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgFlag {
    /// `Abort`: the client went away (FIN) after the whole request: only the signal aborts, the
    /// response is still deliverable.
    SignalOnly = 256,
    /// `Request`: every byte of the params is ASCII, so JavaScript may decode names and values
    /// from one latin1 string.
    ParamsAscii = 262_144,
    /// `Request`: the request's stdin ended in the same batch (no `StdinEnd` event follows).
    StdinEnded = 524_288,
}

/// Why a request's signal aborts; JavaScript turns each into the js engine's message
/// (`request aborted: <why>`).
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// FCGI_ABORT_REQUEST.
    AbortRecord = 0,
    /// FastCGI: the front end closed the connection, or the server closed it.
    ConnectionClosed = 1,
    ConnectionLost = 2,
    BodyTooLarge = 3,
    /// HTTP: the client closed the connection, or the server closed it.
    ClientClosed = 4,
}

/// The level of a `Log` event.
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Info = 0,
    Warn = 1,
    Error = 2,
}

/// The role in a `Request` event's arg: FastCGI's role codes (`fcgi_proto::Role`); HTTP
/// requests are responders.
#[napi]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleCode {
    Responder = 1,
    Authorizer = 2,
    Filter = 3,
}

pub const EV_REQUEST: u32 = EventKind::Request as u32;
pub const EV_STDIN: u32 = EventKind::Stdin as u32;
pub const EV_STDIN_END: u32 = EventKind::StdinEnd as u32;
pub const EV_DATA: u32 = EventKind::Data as u32;
pub const EV_DATA_END: u32 = EventKind::DataEnd as u32;
pub const EV_ABORT: u32 = EventKind::Abort as u32;
pub const EV_DRAIN: u32 = EventKind::Drain as u32;
pub const EV_LOG: u32 = EventKind::Log as u32;
pub const EV_CLOSED: u32 = EventKind::Closed as u32;

/// Stdin bytes of one connection that sit in the queue, not yet taken by JavaScript.
pub struct Credit {
    pub conn: AnyConn,
    pub bytes: usize,
}

#[derive(Default)]
pub struct Batch {
    pub data: Vec<u8>,
    pub meta: Vec<u32>,
    pub credits: Vec<Credit>,
    /// A wake-up is on its way to JavaScript; further pushes need not send another.
    scheduled: bool,
}

#[derive(Default)]
pub struct Events {
    batch: Mutex<Batch>,
    /// How many wake-ups were sent (for measurements).
    pub wakeups: AtomicUsize,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock must not take every later caller down with it: the
    // state behind our locks stays consistent between statements, so use it as is.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Events {
    /// Appends one event; returns true when the caller must wake JavaScript.
    pub fn push(&self, kind: u32, arg: u32, handle: u32, payload: &[u8]) -> bool {
        let mut b = lock(&self.batch);
        let off = b.data.len() as u32;
        b.data.extend_from_slice(payload);
        b.meta
            .extend_from_slice(&[kind | (arg << 8), handle, off, payload.len() as u32]);
        !std::mem::replace(&mut b.scheduled, true)
    }

    /// If the last queued event is `handle`'s request, sets `bit` in its arg (e.g. "stdin
    /// already ended") and returns true: one event less for the most common GET.
    pub fn mark_last_request(&self, handle: u32, bit: u32) -> bool {
        let mut b = lock(&self.batch);
        let n = b.meta.len();
        if n >= 4 && b.meta[n - 4] & 0xff == EV_REQUEST && b.meta[n - 3] == handle {
            b.meta[n - 4] |= bit << 8;
            return true;
        }
        false
    }

    /// Like `push`, for a body chunk whose bytes count against the read budget of connection
    /// `conn_id`; `conn` makes its handle (only when the batch does not hold one yet).
    pub fn push_chunk(
        &self,
        kind: u32,
        handle: u32,
        payload: &[u8],
        conn_id: u64,
        conn: impl FnOnce() -> AnyConn,
    ) -> bool {
        let mut b = lock(&self.batch);
        let off = b.data.len() as u32;
        b.data.extend_from_slice(payload);
        b.meta
            .extend_from_slice(&[kind, handle, off, payload.len() as u32]);
        match b.credits.last_mut() {
            Some(c) if c.conn.id() == conn_id => c.bytes += payload.len(),
            _ => b.credits.push(Credit {
                conn: conn(),
                bytes: payload.len(),
            }),
        }
        !std::mem::replace(&mut b.scheduled, true)
    }

    /// Takes the whole batch (JS thread), encoded as one buffer; the read budgets of the
    /// connections whose chunks it carries are given back.
    pub fn take(&self) -> Vec<u8> {
        let (mut data, meta, credits) = {
            let mut b = lock(&self.batch);
            b.scheduled = false;
            let cap = (b.data.capacity()).min(1 << 16);
            (
                std::mem::replace(&mut b.data, Vec::with_capacity(cap)),
                std::mem::take(&mut b.meta),
                std::mem::take(&mut b.credits),
            )
        };
        let n = meta.len() / 4;
        data.reserve(3 + meta.len() * 4 + 4);
        while data.len() % 4 != 0 {
            data.push(0);
        }
        for v in &meta {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&(n as u32).to_le_bytes());
        for c in credits {
            c.conn.credit(c.bytes);
        }
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn a_batch_is_payloads_then_a_table_then_the_count() {
        let ev = Events::default();
        assert!(
            ev.push(EV_REQUEST, (1 << 16) | 7, 42, b"abc"),
            "first push wakes"
        );
        assert!(
            !ev.push(EV_STDIN_END, 0, 42, &[]),
            "later pushes ride along"
        );
        let b = ev.take();
        let n = u32_at(&b, b.len() - 4) as usize;
        assert_eq!(n, 2);
        let meta = b.len() - 4 - n * 16;
        assert_eq!(meta % 4, 0);
        assert_eq!(&b[..3], b"abc");
        assert_eq!(u32_at(&b, meta), EV_REQUEST | (((1 << 16) | 7) << 8));
        assert_eq!(u32_at(&b, meta + 4), 42);
        assert_eq!((u32_at(&b, meta + 8), u32_at(&b, meta + 12)), (0, 3));
        assert_eq!(u32_at(&b, meta + 16), EV_STDIN_END);
        assert!(
            ev.push(EV_LOG, 1, 0, b"x"),
            "after take, the next push wakes again"
        );
    }

    #[test]
    fn role_codes_are_fastcgi_s() {
        use fcgi_proto::Role;
        for (code, role) in [
            (RoleCode::Responder, Role::Responder),
            (RoleCode::Authorizer, Role::Authorizer),
            (RoleCode::Filter, Role::Filter),
        ] {
            assert_eq!(code as u16, role.as_u16());
        }
    }

    #[test]
    fn an_empty_take_says_zero_events() {
        let b = Events::default().take();
        assert_eq!(b, 0u32.to_le_bytes());
    }
}
