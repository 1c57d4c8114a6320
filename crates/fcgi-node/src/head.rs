//! A response head as it crosses from JavaScript: the status and a flat list of header names and
//! values (strings whose characters are latin1, validated by the API layer), copied into one
//! buffer per call with one N-API call per string.

use std::cell::RefCell;

use napi::bindgen_prelude::{Array, Result};
use napi::{check_status, sys, JsString, JsValue};

/// A response head: `status`, and the header names and values of `bytes`, the `i`-th field
/// ending at `ends[i]`.
pub(crate) struct Head<'a> {
    pub status: u16,
    bytes: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Head<'a> {
    /// The (name, value) pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let bytes = self.bytes;
        let mut start = 0;
        self.ends.chunks_exact(2).map(move |e| {
            let pair = (&bytes[start..e[0]], &bytes[e[0]..e[1]]);
            start = e[1];
            pair
        })
    }
}

/// Per-call scratch space, reused (the JS thread is the only caller).
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with the head made of `status` and the strings of `headers`.
pub(crate) fn with_head<T>(
    status: u16,
    headers: Option<&Array>,
    f: impl FnOnce(Head<'_>) -> T,
) -> Result<T> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let Scratch { bytes, ends } = &mut *scratch;
        bytes.clear();
        ends.clear();
        if let Some(headers) = headers {
            for i in 0..headers.len() {
                if let Some(s) = headers.get::<JsString>(i)? {
                    push_latin1(&s, bytes)?;
                }
                ends.push(bytes.len());
            }
        }
        let out = f(Head {
            status,
            bytes,
            ends,
        });
        if bytes.capacity() > 1 << 16 {
            *bytes = Vec::new(); // a huge head does not stay allocated
        }
        Ok(out)
    })
}

/// Appends the latin1 bytes of `s` to `buf`: one N-API call when the string fits the room
/// reserved, else a second one once its length is known.
fn push_latin1(s: &JsString<'_>, buf: &mut Vec<u8>) -> Result<()> {
    let mut room = 256;
    loop {
        buf.reserve(room);
        let spare = buf.capacity() - buf.len();
        let mut written = 0usize;
        // SAFETY: `napi_get_value_string_latin1` writes at most `spare` bytes (the characters,
        // cut to `spare - 1`, and a NUL) at the pointer, which points at the `spare` bytes of
        // `buf`'s reserved, unused capacity; it reports how many characters it wrote (without
        // the NUL) in `written`, so `buf.len() + written` bytes are initialized. A value that is
        // not a string makes it fail without writing, and the error is returned.
        check_status!(unsafe {
            sys::napi_get_value_string_latin1(
                s.value().env,
                s.raw(),
                buf.as_mut_ptr().add(buf.len()).cast(),
                spare,
                &mut written,
            )
        })?;
        if written + 1 < spare {
            // SAFETY: see above: these `written` bytes were just initialized.
            unsafe { buf.set_len(buf.len() + written) };
            return Ok(());
        }
        // it may have been cut: make room for all of it (and the NUL) and copy again
        room = s.latin1_len()? + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::Head;

    #[test]
    fn fields_pair_up_in_order() {
        let bytes = b"Content-Typetext/plainX-Ab";
        let ends = [12, 22, 25, 26];
        let head = Head {
            status: 200,
            bytes,
            ends: &ends,
        };
        let pairs: Vec<_> = head.pairs().collect();
        assert_eq!(
            pairs,
            [
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (&b"X-A"[..], &b"b"[..])
            ]
        );
    }
}
