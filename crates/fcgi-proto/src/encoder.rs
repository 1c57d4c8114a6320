//! Writing records straight into a caller-provided `Vec<u8>`.
//!
//! Every record written here is padded to a multiple of 8 with zero bytes,
//! and stream content is cut into records of at most 65535 bytes. Nothing here
//! allocates except the growth of `out` itself (which a reused buffer avoids).
//!
//! Stream functions write nothing for empty data: an empty record *is* the
//! end-of-stream marker, so terminators are written only by the explicit
//! `*_end` / [`end_sequence`] functions.

use crate::params::encode_pair;
use crate::record::{
    padding_for, BeginRequestBody, EndRequestBody, ProtocolStatus, RecordHeader, RecordType, Role,
    HEADER_LEN, KEEP_CONN, MAX_CONTENT_LEN, NULL_REQUEST_ID, PADDING,
};

/// Header bytes and padding for one record of `content_len` bytes, for
/// callers that write content from its own buffer with vectored I/O
/// (`header`, content, `padding`) instead of copying it into `out`.
pub fn record_frame(
    record_type: RecordType,
    request_id: u16,
    content_len: u16,
) -> ([u8; HEADER_LEN], &'static [u8]) {
    let header = RecordHeader::new(record_type, request_id, content_len);
    (
        header.to_bytes(),
        &PADDING[..header.padding_length as usize],
    )
}

/// Appends one record.
///
/// # Panics
/// If `content` is longer than 65535 bytes; use [`stream`] for those.
pub fn record(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, content: &[u8]) {
    assert!(
        content.len() <= MAX_CONTENT_LEN,
        "record content of {} bytes exceeds 65535",
        content.len()
    );
    let header = RecordHeader::new(record_type, request_id, content.len() as u16);
    out.reserve(header.record_len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(&PADDING[..header.padding_length as usize]);
}

/// Appends `data` as stream records of at most 65535 bytes each; nothing if
/// `data` is empty.
pub fn stream(out: &mut Vec<u8>, record_type: RecordType, request_id: u16, data: &[u8]) {
    // Each record adds at most 8 header + 7 padding bytes.
    let records = data.len().div_ceil(MAX_CONTENT_LEN);
    out.reserve(data.len() + records * (HEADER_LEN + PADDING.len()));
    for chunk in data.chunks(MAX_CONTENT_LEN) {
        record(out, record_type, request_id, chunk);
    }
}

/// Appends the empty record that ends a stream.
pub fn stream_end(out: &mut Vec<u8>, record_type: RecordType, request_id: u16) {
    out.extend_from_slice(&RecordHeader::new(record_type, request_id, 0).to_bytes());
}

/// Appends STDOUT records (nothing for empty data).
pub fn stdout(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
    stream(out, RecordType::Stdout, request_id, data);
}

/// Appends STDERR records (nothing for empty data).
pub fn stderr(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
    stream(out, RecordType::Stderr, request_id, data);
}

/// Appends STDIN records (nothing for empty data). Client side.
pub fn stdin(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
    stream(out, RecordType::Stdin, request_id, data);
}

/// Appends DATA records (nothing for empty data). Client side, Filter role.
pub fn data(out: &mut Vec<u8>, request_id: u16, data: &[u8]) {
    stream(out, RecordType::Data, request_id, data);
}

/// Appends one END_REQUEST record.
pub fn end_request(
    out: &mut Vec<u8>,
    request_id: u16,
    app_status: u32,
    protocol_status: ProtocolStatus,
) {
    let body = EndRequestBody {
        app_status,
        protocol_status,
    };
    record(out, RecordType::EndRequest, request_id, &body.to_bytes());
}

/// Appends what ends a request that ran: an empty STDOUT, an empty STDERR if
/// any stderr was written, then END_REQUEST(app_status, REQUEST_COMPLETE).
pub fn end_sequence(out: &mut Vec<u8>, request_id: u16, app_status: u32, stderr_written: bool) {
    stream_end(out, RecordType::Stdout, request_id);
    if stderr_written {
        stream_end(out, RecordType::Stderr, request_id);
    }
    end_request(out, request_id, app_status, ProtocolStatus::RequestComplete);
}

/// Appends UNKNOWN_TYPE (id 0; 8-byte body whose first byte is the type).
pub fn unknown_type(out: &mut Vec<u8>, record_type: u8) {
    let body = [record_type, 0, 0, 0, 0, 0, 0, 0];
    record(out, RecordType::UnknownType, NULL_REQUEST_ID, &body);
}

/// Appends GET_VALUES_RESULT (id 0) with the given pairs.
pub fn get_values_result<'p>(
    out: &mut Vec<u8>,
    pairs: impl IntoIterator<Item = (&'p [u8], &'p [u8])>,
) {
    let open = OpenRecord::begin(out, RecordType::GetValuesResult, NULL_REQUEST_ID);
    for (name, value) in pairs {
        encode_pair(out, name, value);
    }
    open.finish(out);
}

/// Appends BEGIN_REQUEST. Client side.
pub fn begin_request(out: &mut Vec<u8>, request_id: u16, role: Role, keep_conn: bool) {
    let body = BeginRequestBody {
        role: role.as_u16(),
        flags: if keep_conn { KEEP_CONN } else { 0 },
    };
    record(out, RecordType::BeginRequest, request_id, &body.to_bytes());
}

/// Appends already encoded name-value pairs as PARAMS records (nothing for
/// empty input; end the stream with [`stream_end`]). Client side.
pub fn params(out: &mut Vec<u8>, request_id: u16, encoded_pairs: &[u8]) {
    stream(out, RecordType::Params, request_id, encoded_pairs);
}

/// Appends ABORT_REQUEST. Client side.
pub fn abort_request(out: &mut Vec<u8>, request_id: u16) {
    record(out, RecordType::AbortRequest, request_id, &[]);
}

/// Appends GET_VALUES (id 0) asking for `names` (values are sent empty).
/// Client side.
pub fn get_values<'n>(out: &mut Vec<u8>, names: impl IntoIterator<Item = &'n [u8]>) {
    let open = OpenRecord::begin(out, RecordType::GetValues, NULL_REQUEST_ID);
    for name in names {
        encode_pair(out, name, b"");
    }
    open.finish(out);
}

/// A record whose content is being written directly into `out` after a
/// placeholder header, so content of unknown length (pairs, a response head)
/// needs no scratch buffer. `finish` patches the header and pads.
pub(crate) struct OpenRecord {
    start: usize,
    record_type: RecordType,
    request_id: u16,
}

impl OpenRecord {
    pub(crate) fn begin(out: &mut Vec<u8>, record_type: RecordType, request_id: u16) -> Self {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        Self {
            start,
            record_type,
            request_id,
        }
    }

    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        let content_start = self.start + HEADER_LEN;
        let content_len = out.len() - content_start;
        if content_len > MAX_CONTENT_LEN {
            // Rare (a response head over 64 KiB): re-encode as a stream.
            let content = out.split_off(content_start);
            out.truncate(self.start);
            stream(out, self.record_type, self.request_id, &content);
            return;
        }
        let header = RecordHeader::new(self.record_type, self.request_id, content_len as u16);
        out[self.start..content_start].copy_from_slice(&header.to_bytes());
        out.extend_from_slice(&PADDING[..padding_for(content_len) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::Records;

    fn decoded(bytes: &[u8]) -> Vec<(RecordType, u16, Vec<u8>)> {
        let mut records = Records::new(bytes);
        let all = records
            .by_ref()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.header.record_type,
                    r.header.request_id,
                    r.content.to_vec(),
                )
            })
            .collect();
        assert_eq!(records.consumed(), bytes.len(), "trailing bytes");
        all
    }

    #[test]
    fn records_are_padded_to_8() {
        let mut out = Vec::new();
        stdout(&mut out, 1, b"hello");
        assert_eq!(
            out,
            [1, 6, 0, 1, 0, 5, 3, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]
        );
    }

    #[test]
    fn streams_split_at_65535() {
        let data: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        stderr(&mut out, 7, &data);
        let records = decoded(&out);
        let lens: Vec<usize> = records.iter().map(|r| r.2.len()).collect();
        assert_eq!(lens, [65535, 65535, 150_000 - 2 * 65535]);
        assert!(out.len() % 8 == 0);
        let joined: Vec<u8> = records.into_iter().flat_map(|r| r.2).collect();
        assert_eq!(joined, data);
    }

    #[test]
    fn empty_stream_writes_nothing_and_end_writes_empty_record() {
        let mut out = Vec::new();
        stdout(&mut out, 1, b"");
        assert!(out.is_empty());
        stream_end(&mut out, RecordType::Stdout, 1);
        assert_eq!(out, [1, 6, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn end_sequence_with_and_without_stderr() {
        let mut out = Vec::new();
        end_sequence(&mut out, 3, 0, false);
        assert_eq!(
            out,
            [1, 6, 0, 3, 0, 0, 0, 0, 1, 3, 0, 3, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        out.clear();
        end_sequence(&mut out, 3, 1, true);
        let types: Vec<RecordType> = decoded(&out).iter().map(|r| r.0).collect();
        assert_eq!(
            types,
            [
                RecordType::Stdout,
                RecordType::Stderr,
                RecordType::EndRequest
            ]
        );
        assert_eq!(&out[24..28], &[0, 0, 0, 1]);
    }

    #[test]
    fn management_records() {
        let mut out = Vec::new();
        unknown_type(&mut out, 42);
        assert_eq!(out, [1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]);

        out.clear();
        get_values_result(&mut out, [(&b"FCGI_MPXS_CONNS"[..], &b"1"[..])]);
        // 2 length bytes + 15 + 1 = 18 content bytes, padded to 24.
        assert_eq!(&out[..8], &[1, 10, 0, 0, 0, 18, 6, 0]);
        assert_eq!(out.len(), 8 + 24);

        out.clear();
        get_values_result(&mut out, []);
        assert_eq!(out, [1, 10, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn client_records() {
        let mut out = Vec::new();
        begin_request(&mut out, 1, Role::Filter, true);
        abort_request(&mut out, 1);
        get_values(&mut out, [&b"FCGI_MAX_REQS"[..]]);
        let records = decoded(&out);
        assert_eq!(
            records[0],
            (RecordType::BeginRequest, 1, vec![0, 3, 1, 0, 0, 0, 0, 0])
        );
        assert_eq!(records[1], (RecordType::AbortRequest, 1, vec![]));
        assert_eq!(records[2].0, RecordType::GetValues);
        assert_eq!(&records[2].2[..2], &[13, 0]);
    }

    #[test]
    fn open_record_longer_than_a_record_becomes_a_stream() {
        let mut out = vec![0xaa];
        let open = OpenRecord::begin(&mut out, RecordType::Stdout, 2);
        out.extend_from_slice(&vec![b'x'; 70_000]);
        open.finish(&mut out);
        assert_eq!(out[0], 0xaa);
        let records = decoded(&out[1..]);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].2.len() + records[1].2.len(), 70_000);
    }

    #[test]
    fn frame_for_vectored_writes() {
        let (header, padding) = record_frame(RecordType::Stdout, 1, 5);
        assert_eq!(header, [1, 6, 0, 1, 0, 5, 3, 0]);
        assert_eq!(padding, &[0, 0, 0]);
    }
}
