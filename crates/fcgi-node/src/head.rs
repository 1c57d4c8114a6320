//! A response head as it crosses from JavaScript: the status as a number and the header names
//! and values as ONE latin1 string, each name and each value followed by a NUL (a byte no valid
//! header holds: the API layer allows only token names and values of tab, 0x20-0x7E and
//! 0x80-0xFF), copied into a reused buffer with one N-API call.

use std::cell::RefCell;

use napi::bindgen_prelude::Result;
use napi::{check_status, sys, JsString, JsValue};

/// A response head: `status`, and the header names and values of `fields`, each ending in NUL.
pub(crate) struct Head<'a> {
    pub status: u16,
    fields: &'a [u8],
}

impl<'a> Head<'a> {
    /// The (name, value) pairs, in order (an unterminated last field ends the list).
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        let mut rest = self.fields;
        std::iter::from_fn(move || {
            let name_end = rest.iter().position(|&b| b == 0)?;
            let (name, after) = (&rest[..name_end], &rest[name_end + 1..]);
            let value_end = after.iter().position(|&b| b == 0)?;
            rest = &after[value_end + 1..];
            Some((name, &after[..value_end]))
        })
    }
}

thread_local! {
    /// The copy of the fields, reused (the JS thread is the only caller).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the head made of `status` and the NUL-terminated fields of `fields`.
pub(crate) fn with_head<T>(
    status: u16,
    fields: Option<&JsString<'_>>,
    f: impl FnOnce(Head<'_>) -> T,
) -> Result<T> {
    SCRATCH.with(|scratch| {
        let mut bytes = scratch.borrow_mut();
        bytes.clear();
        if let Some(fields) = fields {
            push_latin1(fields, &mut bytes)?;
        }
        let out = f(Head {
            status,
            fields: &bytes,
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

    fn pairs(fields: &[u8]) -> Vec<(&[u8], &[u8])> {
        Head {
            status: 200,
            fields,
        }
        .pairs()
        .collect()
    }

    #[test]
    fn fields_pair_up_in_order() {
        assert_eq!(
            pairs(b"Content-Type\0text/plain\0X-A\0b\0"),
            [
                (&b"Content-Type"[..], &b"text/plain"[..]),
                (&b"X-A"[..], &b"b"[..])
            ]
        );
    }

    #[test]
    fn an_empty_value_is_a_field() {
        assert_eq!(
            pairs(b"X-Empty\0\0X-B\0c\0"),
            [(&b"X-Empty"[..], &b""[..]), (&b"X-B"[..], &b"c"[..])]
        );
    }

    #[test]
    fn no_fields_no_pairs() {
        assert!(pairs(b"").is_empty());
        // an unterminated field (never sent by the adapter) is not a header
        assert_eq!(pairs(b"X-A\0b\0X-C\0d"), [(&b"X-A"[..], &b"b"[..])]);
    }
}
