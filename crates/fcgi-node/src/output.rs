//! A connection's output, shared by the JS thread and the connection task (FastCGI and HTTP).
//!
//! The JS thread encodes responses into the pending queue (`send`) and, once per batch, writes
//! it straight to the socket when the task has nothing in flight (`flush_now`): one syscall per
//! batch of responses and no task wake-up. Whatever the socket does not take, the task takes
//! (`take`) and writes when the socket is writable. Framing and small bodies are copied into
//! owned chunks; large bodies stay in their JavaScript Buffer, held by reference until written
//! (as node:net holds a Buffer passed to `socket.write`), so a 1 MiB response is not copied in
//! user space at all.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::Instant;

use crate::server::Shared;

/// Slices per `writev`: enough for a few responses of 1 MiB in FastCGI records.
const IOV: usize = 64;
/// An owned chunk with more capacity than this is freed once written, not kept for reuse.
const KEEP_CAPACITY: usize = 2 << 20;

/// A response body as the JS thread passes it: borrowed for the call (copied), or held (`sendHeld`,
/// which lib/engines/native/exchange.ts uses for large bodies).
pub(crate) enum Body<'a> {
    Copy(&'a [u8]),
    Hold(Held),
}

impl Body<'_> {
    pub fn len(&self) -> usize {
        match self {
            Body::Copy(b) => b.len(),
            Body::Hold(b) => (**b).as_ref().len(),
        }
    }
}

/// Bytes kept alive until written: a JavaScript Buffer by reference (napi's `Buffer`, released on
/// the JS thread when dropped). JavaScript must not modify it meanwhile: the API's contract for
/// `res.write`/`res.end`, as node:net's for `socket.write`, whose libuv writes read it the same
/// way from outside the JS thread's control.
pub(crate) type Held = Arc<dyn AsRef<[u8]> + Send + Sync>;

enum Chunk {
    Own(Vec<u8>),
    Held { buf: Held, range: Range<usize> },
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Own(v) => v,
            Chunk::Held { buf, range } => &(**buf).as_ref()[range.clone()],
        }
    }
}

/// Bytes waiting for the socket, in order.
#[derive(Default)]
pub(crate) struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front: usize,
}

impl OutQueue {
    /// Unwritten bytes.
    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.bytes().len()).sum::<usize>() - self.front
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(|c| c.bytes().is_empty())
    }

    /// Where encoders append: the last chunk when it is owned, else a new one.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        if !matches!(self.chunks.back(), Some(Chunk::Own(_))) {
            self.chunks.push_back(Chunk::Own(Vec::new()));
        }
        match self.chunks.back_mut() {
            Some(Chunk::Own(v)) => v,
            _ => unreachable!("an owned chunk was pushed above"),
        }
    }

    /// `buf[range]` goes out from the Buffer itself, after what is queued.
    pub fn hold(&mut self, buf: &Held, range: Range<usize>) {
        if !range.is_empty() {
            self.chunks.push_back(Chunk::Held {
                buf: buf.clone(),
                range,
            });
        }
    }

    /// Writes with `write` (a vectored write that may take part); the bytes it took, or its error
    /// (WouldBlock included).
    pub fn write_with(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); IOV];
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().enumerate().take(IOV) {
            let bytes = chunk.bytes();
            slices[count] = IoSlice::new(if i == 0 { &bytes[self.front..] } else { bytes });
            count += 1;
        }
        let n = write(&slices[..count])?;
        self.consume(n);
        Ok(n)
    }

    fn consume(&mut self, mut n: usize) {
        loop {
            let only = self.chunks.len() == 1;
            let Some(chunk) = self.chunks.front_mut() else {
                return;
            };
            let left = chunk.bytes().len() - self.front;
            if n < left {
                self.front += n;
                return;
            }
            n -= left;
            self.front = 0;
            match chunk {
                // the last owned chunk stays, emptied, for the next response's bytes
                Chunk::Own(v) if only && v.capacity() <= KEEP_CAPACITY => {
                    v.clear();
                    return;
                }
                _ => {
                    self.chunks.pop_front(); // a held Buffer is released here
                }
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct Output {
    /// Encoded output not yet handed to the task.
    pending: OutQueue,
    /// Bytes the task took and has not written yet.
    inflight: usize,
    /// The socket, while the task has it open.
    fd: Option<RawFd>,
    /// When the JS thread last wrote to the socket (activity for the idle timeout).
    js_wrote: Option<Instant>,
}

impl Output {
    /// Where encoders append.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        self.pending.buf()
    }

    pub fn hold(&mut self, buf: &Held, range: Range<usize>) {
        self.pending.hold(buf, range);
    }

    /// Bytes owed to the socket: queued here and taken by the task.
    pub fn queued(&self) -> usize {
        self.pending.len() + self.inflight
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Best effort before closing on a fatal error: what the socket takes now of the pending
    /// output.
    pub fn write_unsent(&mut self, write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>) {
        let _ = self.pending.write_with(write);
    }

    pub fn attach(&mut self, fd: RawFd) {
        self.fd = Some(fd);
    }

    /// The task is about to close the socket: no more writes from the JS thread.
    pub fn detach(&mut self) {
        self.fd = None;
    }

    pub fn take_js_wrote(&mut self) -> Option<Instant> {
        self.js_wrote.take()
    }

    /// JS thread, once per batch: writes the pending output now when the task has the socket
    /// open and nothing in flight (so these bytes follow everything written before). True when
    /// bytes are left for the task.
    pub fn flush_now(&mut self, sh: &Shared) -> bool {
        if !self.has_pending() {
            return false;
        }
        let Some(fd) = self.fd.filter(|_| self.inflight == 0) else {
            return true;
        };
        // an error (WouldBlock, or one the task reports on its next write) leaves it all queued
        if let Ok(n) = self.pending.write_with(|slices| writev(fd, slices)) {
            self.js_wrote = Some(Instant::now());
            sh.stats
                .bytes_written
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        self.has_pending()
    }

    /// Task: takes the pending output once it has written all it had, and records how much it
    /// now has in flight.
    pub fn take(&mut self, wq: &mut OutQueue) {
        if wq.is_empty() && self.has_pending() {
            std::mem::swap(wq, &mut self.pending);
        }
        self.inflight = wq.len();
    }
}

/// `writev` on `fd` from the JS thread. `fd` is `Output::fd` of an `Output` the caller holds
/// borrowed.
fn writev(fd: RawFd, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `Output::fd` is Some only while the connection task owns the open socket: the
    // task sets it (`attach`) before its loop and clears it (`detach`), under the connection's
    // lock, before dropping the socket. Every caller holds that lock (it borrows the `Output`,
    // which lives inside the lock) for the whole call, so the descriptor cannot be closed, or
    // reused by another socket, meanwhile.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // MSG_NOSIGNAL: a peer that went away is an error the task reports, not a SIGPIPE (Node
    // ignores SIGPIPE, but an embedding process may not)
    socket2::SockRef::from(&borrowed).send_vectored_with_flags(slices, libc::MSG_NOSIGNAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of owned framing around held slices of one shared buffer, and the bytes it must
    /// put on the wire.
    fn sample() -> (OutQueue, Vec<u8>) {
        let shared: Held = Arc::new(
            (0..200_000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<u8>>(),
        );
        let bytes = |r: Range<usize>| (*shared).as_ref()[r].to_vec();
        let mut q = OutQueue::default();
        let mut want = Vec::new();
        for (k, range) in [0..70_000, 5..6, 70_000..200_000, 3..3]
            .into_iter()
            .enumerate()
        {
            let frame = vec![k as u8; k + 1];
            q.buf().extend_from_slice(&frame);
            want.extend_from_slice(&frame);
            q.hold(&shared, range.clone());
            want.extend(bytes(range));
        }
        q.buf().extend_from_slice(b"end");
        want.extend_from_slice(b"end");
        (q, want)
    }

    /// Drains `q` through a writer that takes at most `step` bytes per call.
    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        while !q.is_empty() {
            let before = q.len();
            let n = q
                .write_with(|slices| {
                    let mut n = 0;
                    for s in slices {
                        let take = s.len().min(step - n);
                        wire.extend_from_slice(&s[..take]);
                        n += take;
                        if n == step {
                            break;
                        }
                    }
                    Ok(n)
                })
                .unwrap();
            assert_eq!(q.len(), before - n);
        }
        wire
    }

    #[test]
    fn partial_writes_of_any_size_keep_every_byte_in_order() {
        for step in [1, 7, 8, 4096, 65_535, 65_536, 1 << 20] {
            let (mut q, want) = sample();
            assert_eq!(q.len(), want.len());
            assert_eq!(drain(&mut q, step), want, "writes of {step} bytes");
        }
    }

    #[test]
    fn a_blocked_write_keeps_the_queue() {
        let (mut q, want) = sample();
        let err = q.write_with(|_| Err(io::ErrorKind::WouldBlock.into()));
        assert!(err.is_err());
        assert_eq!(drain(&mut q, 100_000), want);
    }

    #[test]
    fn the_last_owned_chunk_is_kept_for_reuse_and_held_buffers_are_released() {
        let held: Held = Arc::new(vec![1u8; 10]);
        let mut q = OutQueue::default();
        q.buf().extend_from_slice(b"head");
        q.hold(&held, 0..10);
        q.buf().extend_from_slice(b"tail");
        assert_eq!(Arc::strong_count(&held), 2);
        drain(&mut q, 1 << 20);
        assert_eq!(
            Arc::strong_count(&held),
            1,
            "written: the queue let go of the buffer"
        );
        assert_eq!(q.chunks.len(), 1);
        assert!(matches!(&q.chunks[0], Chunk::Own(v) if v.is_empty() && v.capacity() >= 4));
    }
}
