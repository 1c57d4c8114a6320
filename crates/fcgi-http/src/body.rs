//! Incremental request body decoding: Content-Length and chunked.
//!
//! [`BodyDecoder::decode`] looks at the front of the caller's buffer and
//! returns how many bytes it consumed and the body bytes among them, borrowed
//! (zero-copy). Framing bytes (chunk-size lines, CRLFs, trailers) are consumed
//! as they arrive, byte by byte, so nothing is ever re-scanned and a decoder
//! never needs more than one byte of lookahead: a body split across reads at
//! any byte decodes to the same data.
//!
//! Chunked syntax (RFC 9112 §7.1), strictly: `1*HEXDIG [ ";" ext ] CRLF
//! data CRLF`, last chunk `1*"0" [ ";" ext ] CRLF`, then trailer field lines
//! and CRLF. Leading zeros are fine; whitespace around the size is not (as
//! node:http); extensions may hold any VCHAR / SP / HTAB / obs-text and are
//! ignored; trailers are checked for field syntax and discarded.

use crate::chars::is_tchar;
use crate::error::HttpError;
use crate::limits::Limits;
use crate::request::BodyKind;

/// What one [`BodyDecoder::decode`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyChunk<'a> {
    /// Bytes of the input done with (body and framing); drop them.
    pub consumed: usize,
    /// Body bytes, a slice of the consumed input (may be empty).
    pub data: &'a [u8],
    /// The body is complete; bytes after `consumed` belong to the next
    /// request.
    pub done: bool,
}

impl BodyChunk<'_> {
    /// Nothing could be done with the input: read more.
    pub fn needs_input(&self) -> bool {
        self.consumed == 0 && !self.done
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Content-Length: bytes still to come.
    Length {
        remaining: u64,
    },
    /// Reading chunk-size hex digits.
    Size {
        size: u64,
        digits: bool,
    },
    /// In a chunk extension, until CR.
    Extension {
        size: u64,
    },
    /// CR of the chunk-size line seen; LF must follow.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data {
        remaining: u64,
    },
    /// After chunk data: CR, then LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// In a trailer field name (at least one tchar seen when `named`).
    TrailerName {
        named: bool,
    },
    /// In a trailer field value, until CR.
    TrailerValue,
    /// CR of a trailer line seen.
    TrailerLf,
    /// CR of the final empty line seen.
    FinalLf,
    Done,
}

/// Decodes one request body. Make a new one per request.
#[derive(Clone, Debug)]
pub struct BodyDecoder {
    state: State,
    /// Body bytes returned so far.
    received: u64,
    max_body_bytes: u64,
    max_chunk_line_bytes: usize,
    max_trailer_bytes: usize,
    /// Bytes of the current chunk-size line, or of the trailer section.
    line_bytes: usize,
}

impl BodyDecoder {
    pub fn new(kind: BodyKind, limits: &Limits) -> Self {
        let state = match kind {
            BodyKind::Empty | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::Size {
                size: 0,
                digits: false,
            },
        };
        Self {
            state,
            received: 0,
            max_body_bytes: limits.max_body_bytes,
            max_chunk_line_bytes: limits.max_chunk_line_bytes,
            max_trailer_bytes: limits.max_trailer_bytes,
            line_bytes: 0,
        }
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// For a Content-Length body, the bytes still to come.
    pub fn remaining_hint(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } => Some(remaining),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Decodes from the front of `input`. Call again with the rest while
    /// `consumed > 0` and not `done`; when [`BodyChunk::needs_input`], read
    /// more. An `Err` is final: answer its status if no response has started,
    /// and close.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<BodyChunk<'a>, HttpError> {
        let mut i = 0;
        loop {
            match self.state {
                State::Done => {
                    return Ok(BodyChunk {
                        consumed: i,
                        data: &[],
                        done: true,
                    })
                }
                State::Length { remaining } | State::Data { remaining } => {
                    let available = (input.len() - i) as u64;
                    let n = remaining.min(available) as usize;
                    if n == 0 {
                        return Ok(self.framing_only(i));
                    }
                    let left = remaining - n as u64;
                    self.state = match self.state {
                        State::Length { .. } if left == 0 => State::Done,
                        State::Length { .. } => State::Length { remaining: left },
                        _ if left == 0 => State::DataCr,
                        _ => State::Data { remaining: left },
                    };
                    self.received += n as u64;
                    return Ok(BodyChunk {
                        consumed: i + n,
                        data: &input[i..i + n],
                        done: self.state == State::Done,
                    });
                }
                _ => {
                    let Some(&b) = input.get(i) else {
                        return Ok(self.framing_only(i));
                    };
                    i += 1;
                    self.framing_byte(b)?;
                }
            }
        }
    }

    fn framing_only(&self, consumed: usize) -> BodyChunk<'static> {
        BodyChunk {
            consumed,
            data: &[],
            done: false,
        }
    }

    /// One byte of chunked framing.
    fn framing_byte(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match self.state {
            State::Size { size, digits } => {
                self.chunk_line_byte(b)?;
                match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = (b as char).to_digit(16).unwrap_or_default();
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(digit)))
                            .ok_or(HttpError::BadChunkSize)?;
                        State::Size { size, digits: true }
                    }
                    b';' if digits => State::Extension { size },
                    b'\r' if digits => State::SizeLf { size },
                    b'\n' if digits => return Err(HttpError::BadChunk),
                    _ => return Err(HttpError::BadChunkSize),
                }
            }
            State::Extension { size } => {
                self.chunk_line_byte(b)?;
                match b {
                    b'\r' => State::SizeLf { size },
                    b'\t' | b' '..=b'~' | 0x80..=0xff => State::Extension { size },
                    _ => return Err(HttpError::BadChunk),
                }
            }
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(HttpError::BadChunk);
                }
                self.line_bytes = 0;
                if size == 0 {
                    State::TrailerStart
                } else {
                    if size > self.max_body_bytes.saturating_sub(self.received) {
                        return Err(HttpError::BodyTooLarge);
                    }
                    State::Data { remaining: size }
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                size: 0,
                digits: false,
            },
            State::DataCr | State::DataLf => return Err(HttpError::BadChunk),
            State::TrailerStart => {
                self.trailer_byte()?;
                match b {
                    b'\r' => State::FinalLf,
                    b'\n' => return Err(HttpError::BadChunk),
                    _ if is_tchar(b) => State::TrailerName { named: true },
                    _ => return Err(HttpError::BadTrailer),
                }
            }
            State::TrailerName { named } => {
                self.trailer_byte()?;
                match b {
                    b':' if named => State::TrailerValue,
                    _ if is_tchar(b) => State::TrailerName { named: true },
                    _ => return Err(HttpError::BadTrailer),
                }
            }
            State::TrailerValue => {
                self.trailer_byte()?;
                match b {
                    b'\r' => State::TrailerLf,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => State::TrailerValue,
                    _ => return Err(HttpError::BadTrailer),
                }
            }
            State::TrailerLf => {
                self.trailer_byte()?;
                if b != b'\n' {
                    return Err(HttpError::BadTrailer);
                }
                State::TrailerStart
            }
            State::FinalLf => {
                self.trailer_byte()?;
                if b != b'\n' {
                    return Err(HttpError::BadChunk);
                }
                State::Done
            }
            State::Length { .. } | State::Data { .. } | State::Done => {
                unreachable!("not a framing state")
            }
        };
        Ok(())
    }

    /// Counts a chunk-size line byte; the line's CRLF is not counted.
    fn chunk_line_byte(&mut self, b: u8) -> Result<(), HttpError> {
        self.line_bytes += usize::from(b != b'\r');
        if self.line_bytes > self.max_chunk_line_bytes {
            return Err(HttpError::BadChunk);
        }
        Ok(())
    }

    fn trailer_byte(&mut self) -> Result<(), HttpError> {
        self.line_bytes += 1;
        if self.line_bytes > self.max_trailer_bytes {
            return Err(HttpError::TrailersTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes all of `input`, returning the body and the bytes left over.
    fn decode_all(
        kind: BodyKind,
        limits: &Limits,
        input: &[u8],
    ) -> Result<(Vec<u8>, usize), HttpError> {
        let mut d = BodyDecoder::new(kind, limits);
        let mut pos = 0;
        let mut body = Vec::new();
        loop {
            let step = d.decode(&input[pos..])?;
            pos += step.consumed;
            body.extend_from_slice(step.data);
            if step.done {
                return Ok((body, input.len() - pos));
            }
            if step.needs_input() {
                return Err(HttpError::BadChunk); // incomplete, for these tests
            }
        }
    }

    fn chunked(input: &[u8]) -> Result<(Vec<u8>, usize), HttpError> {
        decode_all(BodyKind::Chunked, &Limits::default(), input)
    }

    #[test]
    fn empty_and_length() {
        let l = Limits::default();
        assert_eq!(decode_all(BodyKind::Empty, &l, b"GET"), Ok((vec![], 3)));
        assert_eq!(
            decode_all(BodyKind::Length(3), &l, b"abcGET"),
            Ok((b"abc".to_vec(), 3))
        );
        let mut d = BodyDecoder::new(BodyKind::Length(5), &l);
        assert_eq!(d.remaining_hint(), Some(5));
        let step = d.decode(b"ab").unwrap();
        assert_eq!(
            (step.consumed, step.data, step.done),
            (2, &b"ab"[..], false)
        );
        assert!(d.decode(b"").unwrap().needs_input());
        let step = d.decode(b"cdeX").unwrap();
        assert_eq!(
            (step.consumed, step.data, step.done),
            (3, &b"cde"[..], true)
        );
        assert_eq!(d.received(), 5);
        assert!(d.is_done());
        assert_eq!(d.decode(b"X").unwrap().consumed, 0);
    }

    #[test]
    fn chunked_basics() {
        assert_eq!(
            chunked(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"),
            Ok((b"abcdefg".to_vec(), 0))
        );
        assert_eq!(
            chunked(b"A\r\n0123456789\r\n0\r\n\r\nNEXT"),
            Ok((b"0123456789".to_vec(), 4))
        );
        assert_eq!(
            chunked(b"a\r\n0123456789\r\n00\r\n\r\n"),
            Ok((b"0123456789".to_vec(), 0))
        );
        assert_eq!(
            chunked(b"000000000000000000003\r\nabc\r\n0\r\n\r\n"),
            Ok((b"abc".to_vec(), 0))
        );
        assert_eq!(chunked(b"0\r\n\r\n"), Ok((vec![], 0)));
    }

    #[test]
    fn chunk_extensions_are_ignored() {
        assert_eq!(
            chunked(b"3;a=b\r\nabc\r\n0;x\r\n\r\n"),
            Ok((b"abc".to_vec(), 0))
        );
        assert_eq!(
            chunked(b"3;a=\"b\\\"c\"\r\nabc\r\n0\r\n\r\n"),
            Ok((b"abc".to_vec(), 0))
        );
        assert_eq!(
            chunked(b"3;a\x01\r\nabc\r\n0\r\n\r\n"),
            Err(HttpError::BadChunk)
        );
        assert_eq!(chunked(b"3;a\nabc\r\n0\r\n\r\n"), Err(HttpError::BadChunk));
        let long = format!("3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(4094));
        assert!(chunked(long.as_bytes()).is_ok());
        let long = format!("3;{}\r\nabc\r\n0\r\n\r\n", "e".repeat(4095));
        assert_eq!(chunked(long.as_bytes()), Err(HttpError::BadChunk));
    }

    #[test]
    fn bad_chunk_sizes() {
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"0x3\r\nabc\r\n0\r\n\r\n",
            b"3 \r\nabc\r\n0\r\n\r\n",
            b" 3\r\nabc\r\n0\r\n\r\n",
            b"3 ;a\r\nabc\r\n0\r\n\r\n",
            b"\r\nabc\r\n0\r\n\r\n",
            b";a\r\n",
            b"-1\r\n",
            b"+3\r\nabc\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        ] {
            assert_eq!(chunked(bad), Err(HttpError::BadChunkSize), "{bad:?}");
        }
        // Largest u64 is a valid size (and too large for any limit).
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let r = decode_all(BodyKind::Chunked, &limits, b"ffffffffffffffff\r\n");
        assert_eq!(r, Err(HttpError::BodyTooLarge));
    }

    #[test]
    fn crlf_is_strict() {
        for bad in [
            &b"3\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            b"3\r\nabc\r\r0\r\n\r\n",
            b"3\r\nabc\r\n0\r\n\n",
            b"3\rXabc",
            b"3\r\nabc\r\n0\r\n\rX",
        ] {
            assert_eq!(chunked(bad), Err(HttpError::BadChunk), "{bad:?}");
        }
    }

    #[test]
    fn trailers_are_checked_and_discarded() {
        assert_eq!(
            chunked(b"3\r\nabc\r\n0\r\nX-T: 1\r\nY:\r\n\r\nNEXT"),
            Ok((b"abc".to_vec(), 4))
        );
        for bad in [
            &b"0\r\nX T: 1\r\n\r\n"[..],
            b"0\r\n: 1\r\n\r\n",
            b"0\r\nXT\r\n\r\n",
            b"0\r\nX: a\x01\r\n\r\n",
            b"0\r\nX: 1\n\r\n",
            b"0\r\n X: 1\r\n\r\n",
            b"0\r\nX: 1\r\n folded\r\n\r\n",
        ] {
            assert_eq!(chunked(bad), Err(HttpError::BadTrailer), "{bad:?}");
        }
        let limits = Limits {
            max_trailer_bytes: 10,
            ..Limits::default()
        };
        // "X: 123\r\n" is 8 bytes, the final CRLF 2 more.
        assert_eq!(
            decode_all(BodyKind::Chunked, &limits, b"0\r\nX: 123\r\n\r\n"),
            Ok((vec![], 0))
        );
        assert_eq!(
            decode_all(BodyKind::Chunked, &limits, b"0\r\nX: 1234\r\n\r\n"),
            Err(HttpError::TrailersTooLarge)
        );
    }

    #[test]
    fn body_limit_counts_decoded_bytes() {
        let limits = Limits {
            max_body_bytes: 5,
            ..Limits::default()
        };
        let ok = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            decode_all(BodyKind::Chunked, &limits, ok),
            Ok((b"abcde".to_vec(), 0))
        );
        let over = b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
        assert_eq!(
            decode_all(BodyKind::Chunked, &limits, over),
            Err(HttpError::BodyTooLarge)
        );
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input = b"5;x=y\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut d = BodyDecoder::new(BodyKind::Chunked, &Limits::default());
        let mut buf = Vec::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            let step = d.decode(&buf).unwrap();
            body.extend_from_slice(step.data);
            let (consumed, done, needs_input) = (step.consumed, step.done, step.needs_input());
            buf.drain(..consumed);
            if done {
                break;
            }
            if needs_input {
                buf.push(input[fed]);
                fed += 1;
            }
        }
        assert_eq!(body, b"hello world!");
        assert_eq!(&input[fed..], b"NEXT");
        assert!(buf.is_empty());
    }
}
