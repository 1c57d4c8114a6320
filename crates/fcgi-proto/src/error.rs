//! Errors as values. Every variant is fatal for its connection: the caller logs
//! the `Display` text and closes. Recoverable situations (unknown role,
//! overload, over-limit params) are not errors; they are answered on the wire.

use std::fmt;

use crate::params::ParamsError;
use crate::record::RecordType;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The version byte of a header was not 1.
    UnsupportedVersion { version: u8 },
    /// A fixed-size body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) had fewer
    /// than its 8 bytes.
    BodyTooShort {
        record_type: RecordType,
        request_id: u16,
        content_length: u16,
    },
    /// A request-scoped record type arrived with request id 0.
    NullRequestId { record_type: RecordType },
    /// A management record type arrived with a request id other than 0.
    ManagementRecordWithId {
        record_type: RecordType,
        request_id: u16,
    },
    /// BEGIN_REQUEST for a request id that is still active.
    DuplicateRequestId { request_id: u16 },
    /// A record type only the other side of the connection may send (for a
    /// server: END_REQUEST, STDOUT, STDERR, GET_VALUES_RESULT, UNKNOWN_TYPE;
    /// for a client: anything but those), or an undefined type sent to a client.
    UnexpectedRecordType {
        record_type: RecordType,
        request_id: u16,
    },
    /// A name-value pair's lengths ran past the end of the PARAMS stream
    /// (request id > 0) or of a GET_VALUES(_RESULT) record (request id 0).
    MalformedParams { request_id: u16, error: ParamsError },
    /// Client side: a response record for a request id that is not active.
    UnknownRequestId {
        record_type: RecordType,
        request_id: u16,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedVersion { version } => {
                write!(f, "FastCGI version {version} is not supported (expected 1)")
            }
            Self::BodyTooShort {
                record_type,
                request_id,
                content_length,
            } => write!(
                f,
                "{record_type:?} record for request {request_id} has {content_length} content bytes, expected at least 8"
            ),
            Self::NullRequestId { record_type } => {
                write!(f, "{record_type:?} record with request id 0")
            }
            Self::ManagementRecordWithId {
                record_type,
                request_id,
            } => write!(
                f,
                "management record {record_type:?} with request id {request_id} (expected 0)"
            ),
            Self::DuplicateRequestId { request_id } => {
                write!(f, "BEGIN_REQUEST for request {request_id}, which is already active")
            }
            Self::UnexpectedRecordType {
                record_type,
                request_id,
            } => write!(
                f,
                "unexpected record type {} ({record_type:?}) for request {request_id}",
                record_type.as_u8()
            ),
            Self::MalformedParams { request_id, error } => {
                write!(f, "malformed name-value pairs for request {request_id}: {error}")
            }
            Self::UnknownRequestId {
                record_type,
                request_id,
            } => write!(
                f,
                "{record_type:?} record for request {request_id}, which is not active"
            ),
        }
    }
}

impl ProtocolError {
    /// The words a server logs for this error before closing: the js engine's
    /// (lib/engines/js/fcgi-connection.ts), so both engines' logs read the same.
    pub fn log_message(&self) -> String {
        match self {
            Self::UnsupportedVersion { version } => {
                format!("unsupported FastCGI version {version}")
            }
            Self::BodyTooShort { .. }
            | Self::NullRequestId {
                record_type: RecordType::BeginRequest,
            } => "malformed FCGI_BEGIN_REQUEST".into(),
            Self::NullRequestId { record_type } => {
                format!("record type {} with request id 0", record_type.as_u8())
            }
            Self::ManagementRecordWithId { .. } => "FCGI_GET_VALUES with a request id".into(),
            Self::DuplicateRequestId { request_id } => {
                format!("FCGI_BEGIN_REQUEST for active request {request_id}")
            }
            Self::UnexpectedRecordType { record_type, .. } => format!(
                "record type {} is only sent by applications",
                record_type.as_u8()
            ),
            Self::MalformedParams { .. } => "name-value pair runs past the params".into(),
            other => other.to_string(),
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::MalformedParams { error, .. } => Some(error),
            _ => None,
        }
    }
}
