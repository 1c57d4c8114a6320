//! Stateless, zero-copy record framing.
//!
//! The caller owns the read buffer; [`decode_record`] looks at its front and
//! either returns one complete record (borrowing the content, padding cut off)
//! or says how many bytes it needs. Because nothing is kept between calls, a
//! record split across reads at any byte decodes the same once it is whole.
//! A record is only returned whole, so the buffer must be able to hold
//! [`MAX_RECORD_LEN`](crate::record::MAX_RECORD_LEN) bytes.

use crate::error::ProtocolError;
use crate::record::{RecordHeader, HEADER_LEN, VERSION_1};

/// One complete record, borrowing its content from the input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub header: RecordHeader,
    /// `content_length` bytes; padding is not included.
    pub content: &'a [u8],
}

impl Record<'_> {
    /// Bytes this record occupied in the input, padding included.
    pub const fn encoded_len(&self) -> usize {
        self.header.record_len()
    }
}

/// Outcome of [`decode_record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole record sits at the front of the buffer; it is
    /// `record.encoded_len()` bytes long.
    Record(Record<'a>),
    /// Not enough bytes yet. `needed` is the total the buffer must hold (from
    /// its start) for the next step to make progress: 8 while the header is
    /// incomplete, the whole record length after that.
    Incomplete { needed: usize },
}

/// What one call of a connection's `feed` did: either it needs more input,
/// or it consumed one whole record, which may or may not produce an event
/// (ignored records and records the connection answered itself produce none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<E> {
    /// Nothing consumed; `needed` is how many bytes (from the start of the
    /// input) the next step requires — at most [`MAX_RECORD_LEN`](crate::record::MAX_RECORD_LEN).
    Incomplete { needed: usize },
    /// `consumed` bytes (one record) are done with; drop them from the buffer.
    Record { consumed: usize, event: Option<E> },
}

/// Reads the header at the front of `buf` and checks its version.
/// `Ok(None)` while fewer than 8 bytes are there.
pub fn decode_header(buf: &[u8]) -> Result<Option<RecordHeader>, ProtocolError> {
    let Some(header) = RecordHeader::parse(buf) else {
        return Ok(None);
    };
    if header.version != VERSION_1 {
        return Err(ProtocolError::UnsupportedVersion {
            version: header.version,
        });
    }
    Ok(Some(header))
}

/// Decodes the record at the front of `buf`.
///
/// A wrong version is reported as soon as the header is there, without
/// waiting for the (possibly huge or never coming) content: a peer speaking
/// something else, e.g. HTTP, is turned away at once.
pub fn decode_record(buf: &[u8]) -> Result<Decoded<'_>, ProtocolError> {
    let Some(header) = decode_header(buf)? else {
        return Ok(Decoded::Incomplete { needed: HEADER_LEN });
    };
    Ok(record_after_header(buf, header))
}

/// The second half of [`decode_record`], for callers that inspected the
/// header themselves (the server validates headers before content arrives).
pub(crate) fn record_after_header(buf: &[u8], header: RecordHeader) -> Decoded<'_> {
    let len = header.record_len();
    if buf.len() < len {
        return Decoded::Incomplete { needed: len };
    }
    let content_end = HEADER_LEN + header.content_length as usize;
    Decoded::Record(Record {
        header,
        content: &buf[HEADER_LEN..content_end],
    })
}

/// Iterates over the complete records at the front of a buffer; handy for
/// tests and tools. After it ends, [`Records::consumed`] tells how many bytes
/// were whole records; the rest is an incomplete record (or an error).
#[derive(Clone, Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    consumed: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    pub const fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            consumed: 0,
            failed: false,
        }
    }

    /// Bytes of whole records returned so far.
    pub const fn consumed(&self) -> usize {
        self.consumed
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, ProtocolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match decode_record(&self.buf[self.consumed..]) {
            Ok(Decoded::Record(record)) => {
                self.consumed += record.encoded_len();
                Some(Ok(record))
            }
            Ok(Decoded::Incomplete { .. }) => None,
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordType;

    fn stdin_record() -> Vec<u8> {
        // STDIN, id 1, 3 content bytes, 5 padding bytes.
        let mut bytes = vec![1, 5, 0, 1, 0, 3, 5, 0];
        bytes.extend_from_slice(b"abc");
        bytes.extend_from_slice(&[9; 5]);
        bytes
    }

    #[test]
    fn decodes_a_whole_record_without_padding() {
        let bytes = stdin_record();
        let Decoded::Record(record) = decode_record(&bytes).unwrap() else {
            panic!("expected a record");
        };
        assert_eq!(record.header.record_type, RecordType::Stdin);
        assert_eq!(record.header.request_id, 1);
        assert_eq!(record.content, b"abc");
        assert_eq!(record.encoded_len(), 16);
    }

    #[test]
    fn reports_what_it_needs_at_every_split() {
        let bytes = stdin_record();
        for cut in 0..bytes.len() {
            let expected = if cut < 8 { 8 } else { 16 };
            assert_eq!(
                decode_record(&bytes[..cut]).unwrap(),
                Decoded::Incomplete { needed: expected }
            );
        }
    }

    #[test]
    fn rejects_other_versions_from_the_header_alone() {
        let bytes = [2, 5, 0, 1, 0xff, 0xff, 0, 0];
        assert_eq!(
            decode_record(&bytes),
            Err(ProtocolError::UnsupportedVersion { version: 2 })
        );
        // An HTTP request line is rejected just the same.
        assert_eq!(
            decode_record(b"GET / HTTP/1.1\r\n"),
            Err(ProtocolError::UnsupportedVersion { version: b'G' })
        );
    }

    #[test]
    fn iterates_over_records() {
        let mut bytes = stdin_record();
        bytes.extend_from_slice(&stdin_record());
        bytes.extend_from_slice(&[1, 5]);
        let mut records = Records::new(&bytes);
        assert_eq!(records.by_ref().count(), 2);
        assert_eq!(records.consumed(), 32);
    }
}
