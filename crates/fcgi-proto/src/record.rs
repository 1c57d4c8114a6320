//! The numbers of the FastCGI 1.0 specification and the 8-byte record header.
//!
//! Every FastCGI record is `header (8) + content (0..=65535) + padding (0..=255)`.
//! The header is the only fixed-layout part of the protocol; the fixed bodies
//! (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) are parsed here too because they
//! are eight bytes each and have no other home.

/// The only protocol version there is.
pub const VERSION_1: u8 = 1;
/// Size of a record header.
pub const HEADER_LEN: usize = 8;
/// Largest content a single record can carry (the length field is a u16).
pub const MAX_CONTENT_LEN: usize = 65535;
/// Largest padding a record can carry (the padding field is a u8).
pub const MAX_PADDING_LEN: usize = 255;
/// Largest record on the wire. A reader must be able to buffer this much,
/// because records are decoded whole (see [`crate::decoder`]).
pub const MAX_RECORD_LEN: usize = HEADER_LEN + MAX_CONTENT_LEN + MAX_PADDING_LEN;
/// Management records (GET_VALUES, ...) carry request id 0.
pub const NULL_REQUEST_ID: u16 = 0;

/// `flags` bit of BEGIN_REQUEST: keep the connection open after this request.
pub const KEEP_CONN: u8 = 1;

/// Variable names a GET_VALUES record may ask about.
pub const FCGI_MAX_CONNS: &[u8] = b"FCGI_MAX_CONNS";
/// Variable names a GET_VALUES record may ask about.
pub const FCGI_MAX_REQS: &[u8] = b"FCGI_MAX_REQS";
/// Variable names a GET_VALUES record may ask about.
pub const FCGI_MPXS_CONNS: &[u8] = b"FCGI_MPXS_CONNS";

/// Zero bytes to pad records with; records are padded to a multiple of 8, so
/// at most 7 are ever needed.
pub const PADDING: [u8; 7] = [0; 7];

/// Record types. Values 0 and 12..=255 are not defined by FastCGI 1.0 and are
/// kept as [`RecordType::Other`] so they can be echoed in UNKNOWN_TYPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordType {
    BeginRequest,
    AbortRequest,
    EndRequest,
    Params,
    Stdin,
    Stdout,
    Stderr,
    Data,
    GetValues,
    GetValuesResult,
    UnknownType,
    /// Any value not listed above (0 or 12..=255).
    Other(u8),
}

impl RecordType {
    pub const fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::BeginRequest,
            2 => Self::AbortRequest,
            3 => Self::EndRequest,
            4 => Self::Params,
            5 => Self::Stdin,
            6 => Self::Stdout,
            7 => Self::Stderr,
            8 => Self::Data,
            9 => Self::GetValues,
            10 => Self::GetValuesResult,
            11 => Self::UnknownType,
            other => Self::Other(other),
        }
    }

    pub const fn as_u8(self) -> u8 {
        match self {
            Self::BeginRequest => 1,
            Self::AbortRequest => 2,
            Self::EndRequest => 3,
            Self::Params => 4,
            Self::Stdin => 5,
            Self::Stdout => 6,
            Self::Stderr => 7,
            Self::Data => 8,
            Self::GetValues => 9,
            Self::GetValuesResult => 10,
            Self::UnknownType => 11,
            Self::Other(value) => value,
        }
    }
}

/// The role a BEGIN_REQUEST asks the application to play.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Responder,
    Authorizer,
    Filter,
}

impl Role {
    /// `None` for any value other than 1, 2, 3 (answered with UNKNOWN_ROLE).
    pub const fn from_u16(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::Responder),
            2 => Some(Self::Authorizer),
            3 => Some(Self::Filter),
            _ => None,
        }
    }

    pub const fn as_u16(self) -> u16 {
        match self {
            Self::Responder => 1,
            Self::Authorizer => 2,
            Self::Filter => 3,
        }
    }
}

/// `protocolStatus` of END_REQUEST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolStatus {
    RequestComplete,
    CantMpxConn,
    Overloaded,
    UnknownRole,
    /// Any value not defined by FastCGI 1.0 (4..=255), as a client may see it.
    Other(u8),
}

impl ProtocolStatus {
    pub const fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::RequestComplete,
            1 => Self::CantMpxConn,
            2 => Self::Overloaded,
            3 => Self::UnknownRole,
            other => Self::Other(other),
        }
    }

    pub const fn as_u8(self) -> u8 {
        match self {
            Self::RequestComplete => 0,
            Self::CantMpxConn => 1,
            Self::Overloaded => 2,
            Self::UnknownRole => 3,
            Self::Other(value) => value,
        }
    }
}

/// Padding that brings `content_len` up to a multiple of 8, as every record
/// this crate writes is padded (the spec recommends it; front ends accept any).
pub const fn padding_for(content_len: usize) -> u8 {
    (content_len.wrapping_neg() & 7) as u8
}

/// The 8-byte header in front of every record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub version: u8,
    pub record_type: RecordType,
    pub request_id: u16,
    pub content_length: u16,
    pub padding_length: u8,
}

impl RecordHeader {
    /// A version-1 header padded to a multiple of 8, as this crate writes them.
    pub const fn new(record_type: RecordType, request_id: u16, content_length: u16) -> Self {
        Self {
            version: VERSION_1,
            record_type,
            request_id,
            content_length,
            padding_length: padding_for(content_length as usize),
        }
    }

    /// Reads a header from the first 8 bytes of `bytes`; `None` if fewer are
    /// there. No validation: the version is checked by [`crate::decoder`].
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let raw: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Self::from_bytes(raw))
    }

    pub const fn from_bytes(raw: &[u8; HEADER_LEN]) -> Self {
        Self {
            version: raw[0],
            record_type: RecordType::from_u8(raw[1]),
            request_id: u16::from_be_bytes([raw[2], raw[3]]),
            content_length: u16::from_be_bytes([raw[4], raw[5]]),
            padding_length: raw[6],
            // raw[7] is reserved and ignored.
        }
    }

    pub const fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let id = self.request_id.to_be_bytes();
        let len = self.content_length.to_be_bytes();
        [
            self.version,
            self.record_type.as_u8(),
            id[0],
            id[1],
            len[0],
            len[1],
            self.padding_length,
            0,
        ]
    }

    /// Bytes the whole record occupies: header + content + padding.
    pub const fn record_len(&self) -> usize {
        HEADER_LEN + self.content_length as usize + self.padding_length as usize
    }
}

/// Body of BEGIN_REQUEST: role (u16), flags (u8), five reserved bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeginRequestBody {
    /// Raw role value; see [`Role::from_u16`].
    pub role: u16,
    pub flags: u8,
}

impl BeginRequestBody {
    /// `None` if `content` is shorter than 8 bytes; longer content is allowed
    /// and the extra bytes are ignored.
    pub fn parse(content: &[u8]) -> Option<Self> {
        let body = content.get(..8)?;
        Some(Self {
            role: u16::from_be_bytes([body[0], body[1]]),
            flags: body[2],
        })
    }

    pub const fn to_bytes(&self) -> [u8; 8] {
        let role = self.role.to_be_bytes();
        [role[0], role[1], self.flags, 0, 0, 0, 0, 0]
    }

    pub const fn keep_conn(&self) -> bool {
        self.flags & KEEP_CONN != 0
    }
}

/// Body of END_REQUEST: appStatus (u32), protocolStatus (u8), three reserved bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndRequestBody {
    pub app_status: u32,
    pub protocol_status: ProtocolStatus,
}

impl EndRequestBody {
    /// `None` if `content` is shorter than 8 bytes.
    pub fn parse(content: &[u8]) -> Option<Self> {
        let body = content.get(..8)?;
        Some(Self {
            app_status: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
            protocol_status: ProtocolStatus::from_u8(body[4]),
        })
    }

    pub const fn to_bytes(&self) -> [u8; 8] {
        let app = self.app_status.to_be_bytes();
        [
            app[0],
            app[1],
            app[2],
            app[3],
            self.protocol_status.as_u8(),
            0,
            0,
            0,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let header = RecordHeader::new(RecordType::Stdout, 0x1234, 13);
        assert_eq!(header.padding_length, 3);
        assert_eq!(header.record_len(), 8 + 13 + 3);
        let bytes = header.to_bytes();
        assert_eq!(bytes, [1, 6, 0x12, 0x34, 0, 13, 3, 0]);
        assert_eq!(RecordHeader::parse(&bytes), Some(header));
        assert_eq!(RecordHeader::parse(&bytes[..7]), None);
    }

    #[test]
    fn reserved_header_byte_is_ignored() {
        let header = RecordHeader::parse(&[1, 5, 0, 1, 0, 0, 0, 0xff]).unwrap();
        assert_eq!(header, RecordHeader::new(RecordType::Stdin, 1, 0));
    }

    #[test]
    fn padding_is_to_a_multiple_of_8() {
        for len in 0..64usize {
            assert_eq!((len + padding_for(len) as usize) % 8, 0);
            assert!(padding_for(len) < 8);
        }
        assert_eq!(padding_for(MAX_CONTENT_LEN), 1);
    }

    #[test]
    fn record_types_roundtrip() {
        for value in 0..=255u8 {
            assert_eq!(RecordType::from_u8(value).as_u8(), value);
        }
        assert_eq!(RecordType::from_u8(0), RecordType::Other(0));
        assert_eq!(RecordType::from_u8(12), RecordType::Other(12));
    }

    #[test]
    fn roles_and_statuses() {
        assert_eq!(Role::from_u16(0), None);
        assert_eq!(Role::from_u16(4), None);
        for role in [Role::Responder, Role::Authorizer, Role::Filter] {
            assert_eq!(Role::from_u16(role.as_u16()), Some(role));
        }
        for value in 0..=255u8 {
            assert_eq!(ProtocolStatus::from_u8(value).as_u8(), value);
        }
    }

    #[test]
    fn fixed_bodies() {
        let begin = BeginRequestBody::parse(&[0, 1, 1, 0, 0, 0, 0, 0, 9]).unwrap();
        assert_eq!(begin.role, 1);
        assert!(begin.keep_conn());
        assert_eq!(BeginRequestBody::parse(&[0, 1, 1, 0, 0, 0, 0]), None);
        assert_eq!(begin.to_bytes(), [0, 1, 1, 0, 0, 0, 0, 0]);

        let end = EndRequestBody {
            app_status: 0x01020304,
            protocol_status: ProtocolStatus::Overloaded,
        };
        assert_eq!(end.to_bytes(), [1, 2, 3, 4, 2, 0, 0, 0]);
        assert_eq!(EndRequestBody::parse(&end.to_bytes()), Some(end));
    }
}
