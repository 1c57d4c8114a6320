//! The web-server (client) side of one FastCGI connection, for the load
//! generator, the `fcgi request` CLI and tests: encodes requests, and decodes
//! the application's records into events.
//!
//! It is strict on purpose: a tool that measures a server should notice a
//! record for an id it never opened, or a type a server must not send.

use crate::decoder::{decode_header, record_after_header, Decoded, Step};
use crate::encoder::{self, stream_end};
use crate::error::ProtocolError;
use crate::params::{self, encode_pair};
use crate::record::{
    EndRequestBody, ProtocolStatus, RecordType, Role, HEADER_LEN, NULL_REQUEST_ID,
};

/// What a record from the application meant.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent<'a> {
    Stdout {
        id: u16,
        chunk: &'a [u8],
    },
    /// The empty STDOUT record.
    StdoutEnd {
        id: u16,
    },
    Stderr {
        id: u16,
        chunk: &'a [u8],
    },
    /// The empty STDERR record.
    StderrEnd {
        id: u16,
    },
    /// END_REQUEST; the id is free again.
    End {
        id: u16,
        app_status: u32,
        protocol_status: ProtocolStatus,
    },
    /// GET_VALUES_RESULT; its content is validated name-value pairs, walk
    /// them with [`params::pairs`].
    GetValuesResult {
        content: &'a [u8],
    },
    /// UNKNOWN_TYPE: the application did not know a record type we sent.
    UnknownType {
        record_type: u8,
    },
}

/// Ids are 16 bits, so the set of active ones is a fixed 8 KiB bitmap:
/// O(1) checks whatever the concurrency.
#[derive(Clone)]
struct IdSet {
    words: Box<[u64; 1024]>,
    len: usize,
}

impl IdSet {
    fn new() -> Self {
        Self {
            words: Box::new([0; 1024]),
            len: 0,
        }
    }

    fn contains(&self, id: u16) -> bool {
        self.words[id as usize / 64] & (1 << (id % 64)) != 0
    }

    /// `false` if it was already there.
    fn insert(&mut self, id: u16) -> bool {
        let word = &mut self.words[id as usize / 64];
        let bit = 1 << (id % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        self.len += usize::from(fresh);
        fresh
    }

    fn remove(&mut self, id: u16) {
        let word = &mut self.words[id as usize / 64];
        let bit = 1 << (id % 64);
        self.len -= usize::from(*word & bit != 0);
        *word &= !bit;
    }

    /// Lowest id >= 1 not in the set.
    fn first_free(&self) -> Option<u16> {
        self.words.iter().enumerate().find_map(|(index, word)| {
            // Id 0 is never free: it names management records.
            let taken = if index == 0 { word | 1 } else { *word };
            (taken != u64::MAX).then(|| (index * 64) as u16 + taken.trailing_ones() as u16)
        })
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet").field("len", &self.len).finish()
    }
}

/// One connection, web-server side.
#[derive(Debug)]
pub struct ClientConnection {
    active: IdSet,
    /// Reused to encode params before they are cut into records, so a
    /// steady stream of requests does not allocate.
    scratch: Vec<u8>,
    failed: Option<ProtocolError>,
}

impl Default for ClientConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientConnection {
    pub fn new() -> Self {
        Self {
            active: IdSet::new(),
            scratch: Vec::new(),
            failed: None,
        }
    }

    /// The lowest request id not in use, if any.
    pub fn free_id(&self) -> Option<u16> {
        self.active.first_free()
    }

    pub fn is_active(&self, id: u16) -> bool {
        self.active.contains(id)
    }

    pub fn active_count(&self) -> usize {
        self.active.len
    }

    /// Appends BEGIN_REQUEST and marks `id` active (until its END_REQUEST).
    /// Errors if `id` is 0 or already active; nothing is written then.
    pub fn begin_request(
        &mut self,
        id: u16,
        role: Role,
        keep_conn: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        if id == NULL_REQUEST_ID {
            return Err(ProtocolError::NullRequestId {
                record_type: RecordType::BeginRequest,
            });
        }
        if !self.active.insert(id) {
            return Err(ProtocolError::DuplicateRequestId { request_id: id });
        }
        encoder::begin_request(out, id, role, keep_conn);
        Ok(())
    }

    /// Appends the whole params stream: the pairs as PARAMS records, then
    /// the empty PARAMS record.
    pub fn params<'p>(
        &mut self,
        id: u16,
        pairs: impl IntoIterator<Item = (&'p [u8], &'p [u8])>,
        out: &mut Vec<u8>,
    ) {
        self.scratch.clear();
        for (name, value) in pairs {
            encode_pair(&mut self.scratch, name, value);
        }
        encoder::params(out, id, &self.scratch);
        stream_end(out, RecordType::Params, id);
    }

    /// Appends STDIN records (nothing for empty data).
    pub fn stdin(&mut self, id: u16, data: &[u8], out: &mut Vec<u8>) {
        encoder::stdin(out, id, data);
    }

    /// Appends the empty STDIN record.
    pub fn stdin_end(&mut self, id: u16, out: &mut Vec<u8>) {
        stream_end(out, RecordType::Stdin, id);
    }

    /// Appends DATA records (Filter role; nothing for empty data).
    pub fn data(&mut self, id: u16, data: &[u8], out: &mut Vec<u8>) {
        encoder::data(out, id, data);
    }

    /// Appends the empty DATA record.
    pub fn data_end(&mut self, id: u16, out: &mut Vec<u8>) {
        stream_end(out, RecordType::Data, id);
    }

    /// Appends ABORT_REQUEST; the id stays active until its END_REQUEST.
    pub fn abort(&mut self, id: u16, out: &mut Vec<u8>) {
        encoder::abort_request(out, id);
    }

    /// Appends GET_VALUES asking for `names`.
    pub fn get_values<'n>(&mut self, names: impl IntoIterator<Item = &'n [u8]>, out: &mut Vec<u8>) {
        encoder::get_values(out, names);
    }

    /// Appends a complete request: BEGIN_REQUEST, params, the body and the
    /// empty STDIN record. (A Filter's DATA stream follows with `data`.)
    pub fn send_request<'p>(
        &mut self,
        id: u16,
        role: Role,
        keep_conn: bool,
        pairs: impl IntoIterator<Item = (&'p [u8], &'p [u8])>,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProtocolError> {
        self.begin_request(id, role, keep_conn, out)?;
        self.params(id, pairs, out);
        self.stdin(id, body, out);
        self.stdin_end(id, out);
        Ok(())
    }

    /// Decodes the record at the front of `input`; same contract as
    /// [`ServerConnection::feed`](crate::ServerConnection::feed). Every
    /// record yields an event; any record a server must not send is an error.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> Result<Step<ClientEvent<'a>>, ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.step(input);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<Step<ClientEvent<'a>>, ProtocolError> {
        let Some(header) = decode_header(input)? else {
            return Ok(Step::Incomplete { needed: HEADER_LEN });
        };
        let record = match record_after_header(input, header) {
            Decoded::Incomplete { needed } => return Ok(Step::Incomplete { needed }),
            Decoded::Record(record) => record,
        };
        let id = header.request_id;
        let record_type = header.record_type;
        let content = record.content;
        let too_short = || ProtocolError::BodyTooShort {
            record_type,
            request_id: id,
            content_length: header.content_length,
        };
        match record_type {
            RecordType::Stdout | RecordType::Stderr | RecordType::EndRequest => {
                if id == NULL_REQUEST_ID {
                    return Err(ProtocolError::NullRequestId { record_type });
                }
                if !self.active.contains(id) {
                    return Err(ProtocolError::UnknownRequestId {
                        record_type,
                        request_id: id,
                    });
                }
            }
            RecordType::GetValuesResult | RecordType::UnknownType if id != NULL_REQUEST_ID => {
                return Err(ProtocolError::ManagementRecordWithId {
                    record_type,
                    request_id: id,
                })
            }
            RecordType::GetValuesResult | RecordType::UnknownType => {}
            _ => {
                return Err(ProtocolError::UnexpectedRecordType {
                    record_type,
                    request_id: id,
                })
            }
        }
        let event = match (record_type, content.is_empty()) {
            (RecordType::Stdout, false) => ClientEvent::Stdout { id, chunk: content },
            (RecordType::Stdout, true) => ClientEvent::StdoutEnd { id },
            (RecordType::Stderr, false) => ClientEvent::Stderr { id, chunk: content },
            (RecordType::Stderr, true) => ClientEvent::StderrEnd { id },
            (RecordType::EndRequest, _) => {
                let body = EndRequestBody::parse(content).ok_or_else(too_short)?;
                self.active.remove(id);
                ClientEvent::End {
                    id,
                    app_status: body.app_status,
                    protocol_status: body.protocol_status,
                }
            }
            (RecordType::GetValuesResult, _) => {
                params::validate(content).map_err(|error| ProtocolError::MalformedParams {
                    request_id: NULL_REQUEST_ID,
                    error,
                })?;
                ClientEvent::GetValuesResult { content }
            }
            (_, _) => {
                // UNKNOWN_TYPE, the only type left.
                let body = content.get(..8).ok_or_else(too_short)?;
                ClientEvent::UnknownType {
                    record_type: body[0],
                }
            }
        };
        Ok(Step::Record {
            consumed: record.encoded_len(),
            event: Some(event),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set() {
        let mut set = IdSet::new();
        assert_eq!(set.first_free(), Some(1));
        assert!(set.insert(1));
        assert!(!set.insert(1));
        assert_eq!(set.first_free(), Some(2));
        for id in 2..=200 {
            set.insert(id);
        }
        assert_eq!(set.first_free(), Some(201));
        set.remove(64);
        assert_eq!(set.first_free(), Some(64));
        assert_eq!(set.len, 199);
        for id in 1..=u16::MAX {
            set.insert(id);
        }
        assert_eq!(set.first_free(), None);
        assert!(set.contains(u16::MAX));
    }
}
