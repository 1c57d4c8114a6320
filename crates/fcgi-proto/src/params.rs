//! Name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT).
//!
//! Each pair is `nameLength valueLength name value`, where a length below 128
//! takes one byte and anything else four (high bit set, 31 bits of length).
//! A PARAMS stream may be cut into records anywhere — even inside a length —
//! so pairs are only decoded over the complete stream: [`ParamsAccumulator`]
//! gathers record contents (enforcing the byte limit as it goes) and
//! [`Pairs`] walks the finished buffer without copying.

use std::fmt;

/// Largest length a pair can declare (31 bits).
pub const MAX_PAIR_LEN: usize = 0x7fff_ffff;

/// One decoded pair, borrowing from the params buffer. The offsets locate the
/// name and value inside that buffer, so a caller can hand the buffer on as is
/// (e.g. to JavaScript) together with a flat offset table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    pub name_offset: usize,
    pub value_offset: usize,
}

/// A pair whose lengths run past the end of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamsError {
    /// The pair starting at `offset` needs more bytes than the buffer has.
    Truncated { offset: usize },
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset } => {
                write!(f, "name-value pair at byte {offset} runs past the end")
            }
        }
    }
}

impl std::error::Error for ParamsError {}

/// Iterator over the pairs of a complete buffer. Yields an error once, then
/// stops, if a pair is truncated.
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Walks the pairs of `buf`.
pub const fn pairs(buf: &[u8]) -> Pairs<'_> {
    Pairs { buf, pos: 0 }
}

impl<'a> Pairs<'a> {
    /// Reads one length at `self.pos`, advancing past it.
    fn read_len(&mut self) -> Option<usize> {
        let first = *self.buf.get(self.pos)?;
        if first < 0x80 {
            self.pos += 1;
            return Some(first as usize);
        }
        let bytes = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes([first & 0x7f, bytes[1], bytes[2], bytes[3]]) as usize)
    }

    fn read_pair(&mut self) -> Option<Pair<'a>> {
        let name_len = self.read_len()?;
        let value_len = self.read_len()?;
        let name_offset = self.pos;
        // checked: on 32-bit targets two 31-bit lengths could overflow.
        let value_offset = name_offset.checked_add(name_len)?;
        let end = value_offset.checked_add(value_len)?;
        let name = self.buf.get(name_offset..value_offset)?;
        let value = self.buf.get(value_offset..end)?;
        self.pos = end;
        Some(Pair {
            name,
            value,
            name_offset,
            value_offset,
        })
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<Pair<'a>, ParamsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let offset = self.pos;
        match self.read_pair() {
            Some(pair) => Some(Ok(pair)),
            None => {
                // Park at the end so iteration stops after the error.
                self.pos = self.buf.len();
                Some(Err(ParamsError::Truncated { offset }))
            }
        }
    }
}

/// Checks every pair of `buf` and returns how many there are.
pub fn validate(buf: &[u8]) -> Result<usize, ParamsError> {
    let mut count = 0;
    for pair in pairs(buf) {
        pair?;
        count += 1;
    }
    Ok(count)
}

/// Result of [`count_pairs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairCount {
    /// Every pair is well formed and there are at most `max_pairs`.
    Within(usize),
    /// A well-formed pair number `max_pairs + 1` exists; the walk stopped
    /// there, so whatever follows was not checked.
    OverLimit,
}

/// Walks the pairs of `buf` up to `max_pairs`: a malformed pair met before
/// the limit is an error, one after it is not looked at. This is the order
/// the js engine's `decodePairs` checks in, so both answer the same input
/// the same way (close vs. 431).
pub fn count_pairs(buf: &[u8], max_pairs: usize) -> Result<PairCount, ParamsError> {
    let mut count = 0;
    for pair in pairs(buf) {
        pair?;
        if count == max_pairs {
            return Ok(PairCount::OverLimit);
        }
        count += 1;
    }
    Ok(PairCount::Within(count))
}

/// Bytes `encode_pair` writes for these lengths.
pub const fn encoded_pair_len(name_len: usize, value_len: usize) -> usize {
    const fn len_len(len: usize) -> usize {
        if len < 0x80 {
            1
        } else {
            4
        }
    }
    len_len(name_len) + len_len(value_len) + name_len + value_len
}

/// Appends one length in its 1- or 4-byte form.
///
/// # Panics
/// If `len` exceeds [`MAX_PAIR_LEN`] (2 GiB), which no record stream can carry.
pub fn encode_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        assert!(
            len <= MAX_PAIR_LEN,
            "name-value length {len} exceeds 2^31-1"
        );
        out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
    }
}

/// Appends one name-value pair.
///
/// # Panics
/// If the name or value is longer than [`MAX_PAIR_LEN`].
pub fn encode_pair(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(encoded_pair_len(name.len(), value.len()));
    encode_len(out, name.len());
    encode_len(out, value.len());
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// Signals that a PARAMS stream grew past its byte limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge;

/// Gathers the contents of a request's PARAMS records until the empty one.
///
/// The limit is checked on every push, so an endless PARAMS stream costs at
/// most `max_bytes` of memory before it is refused.
#[derive(Clone, Debug, Default)]
pub struct ParamsAccumulator {
    buf: Vec<u8>,
}

impl ParamsAccumulator {
    pub const fn new() -> Self {
        Self { buf: Vec::new() }
    }

    /// Appends one record's content, unless that would make the stream longer
    /// than `max_bytes` (in which case nothing is appended).
    pub fn push(&mut self, chunk: &[u8], max_bytes: usize) -> Result<(), TooLarge> {
        if chunk.len() > max_bytes.saturating_sub(self.buf.len()) {
            return Err(TooLarge);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes gathered so far (not yet validated).
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths() {
        let mut buf = Vec::new();
        encode_pair(&mut buf, b"A", &[b'x'; 127]);
        assert_eq!(&buf[..2], &[1, 127]);
        buf.clear();
        encode_pair(&mut buf, &[b'n'; 128], b"");
        assert_eq!(&buf[..5], &[0x80, 0, 0, 128, 0]);
        assert_eq!(buf.len(), encoded_pair_len(128, 0));
    }

    #[test]
    fn decodes_with_offsets() {
        let mut buf = Vec::new();
        encode_pair(&mut buf, b"REQUEST_METHOD", b"GET");
        encode_pair(&mut buf, b"EMPTY", b"");
        let all: Vec<_> = pairs(&buf).map(Result::unwrap).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, b"REQUEST_METHOD");
        assert_eq!(all[0].value, b"GET");
        assert_eq!(all[0].name_offset, 2);
        assert_eq!(all[0].value_offset, 16);
        assert_eq!(&buf[all[1].name_offset..all[1].value_offset], b"EMPTY");
        assert_eq!(all[1].value, b"");
        assert_eq!(validate(&buf), Ok(2));
    }

    #[test]
    fn four_byte_form_of_a_small_length_is_accepted() {
        let buf = [0x80, 0, 0, 1, 0x80, 0, 0, 2, b'a', b'b', b'c'];
        let pair = pairs(&buf).next().unwrap().unwrap();
        assert_eq!((pair.name, pair.value), (&b"a"[..], &b"bc"[..]));
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let mut buf = Vec::new();
        encode_pair(&mut buf, b"NAME", &[b'v'; 200]);
        encode_pair(&mut buf, b"X", b"y");
        let first_len = encoded_pair_len(4, 200);
        for cut in 1..buf.len() {
            let result = validate(&buf[..cut]);
            if cut == first_len {
                assert_eq!(result, Ok(1));
            } else {
                let offset = if cut < first_len { 0 } else { first_len };
                assert_eq!(result, Err(ParamsError::Truncated { offset }), "cut {cut}");
            }
        }
        let mut iter = pairs(&buf[..3]);
        assert!(iter.next().unwrap().is_err());
        assert!(iter.next().is_none());
    }

    #[test]
    fn count_stops_at_the_limit() {
        let mut buf = Vec::new();
        for name in [&b"A"[..], b"B", b"C"] {
            encode_pair(&mut buf, name, b"v");
        }
        assert_eq!(count_pairs(&buf, 3), Ok(PairCount::Within(3)));
        assert_eq!(count_pairs(&buf, 2), Ok(PairCount::OverLimit));
        assert_eq!(count_pairs(&[], 0), Ok(PairCount::Within(0)));
        // Malformed before the limit: an error; after it: not looked at.
        buf.push(0x80);
        assert_eq!(
            count_pairs(&buf, 3),
            Err(ParamsError::Truncated { offset: 12 })
        );
        assert_eq!(count_pairs(&buf, 2), Ok(PairCount::OverLimit));
        // The pair over the limit must itself be well formed to count.
        assert_eq!(count_pairs(&buf[..8], 1), Ok(PairCount::OverLimit));
        assert!(count_pairs(&buf[..7], 1).is_err());
    }

    #[test]
    fn huge_declared_lengths_do_not_panic() {
        let buf = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(validate(&buf), Err(ParamsError::Truncated { offset: 0 }));
    }

    #[test]
    fn accumulator_enforces_the_byte_limit() {
        let mut acc = ParamsAccumulator::new();
        assert_eq!(acc.push(b"1234", 10), Ok(()));
        assert_eq!(acc.push(b"123456", 10), Ok(()));
        assert_eq!(acc.push(b"", 10), Ok(()));
        assert_eq!(acc.push(b"x", 10), Err(TooLarge));
        assert_eq!(acc.len(), 10);
        assert_eq!(acc.into_bytes(), b"1234123456");
    }
}
