//! Answers the connection writes on its own, without the application:
//! the 431 for over-limit params and GET_VALUES_RESULT.

use super::ServerConfig;
use crate::encoder::{self, end_sequence, OpenRecord};
use crate::error::ProtocolError;
use crate::params::{self, encode_len};
use crate::record::{RecordType, FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS, NULL_REQUEST_ID};
use crate::response_head::push_decimal;

/// STDOUT content sent when a request's params exceed a limit: exactly the
/// js engine's `cgiErrorResponse(431)` (lib/fastcgi/head.ts), since the
/// differential test compares the bytes.
pub const PARAMS_TOO_LARGE_RESPONSE: &[u8] = b"Status: 431 Request Header Fields Too Large\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Request Header Fields Too Large\n";

/// STDOUT content sent to an Authorizer request refused with FCGI_OVERLOADED: the js engine's
/// `cgiErrorResponse(503)`, so that a front end that reads only the output denies the request.
pub const OVERLOADED_AUTHORIZER_RESPONSE: &[u8] = b"Status: 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Service Unavailable\n";

/// STDOUT content sent when a request's body passes `max_body_bytes` before its response
/// started: the js engine's `cgiErrorResponse(413)`.
pub const BODY_TOO_LARGE_RESPONSE: &[u8] = b"Status: 413 Payload Too Large\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Payload Too Large\n";

/// "STDOUT `Status: 431` response + END_REQUEST(app 0, REQUEST_COMPLETE)".
pub(super) fn params_too_large(out: &mut Vec<u8>, id: u16) {
    encoder::stdout(out, id, PARAMS_TOO_LARGE_RESPONSE);
    end_sequence(out, id, 0, false);
}

/// "GET_VALUES with id 0: GET_VALUES_RESULT with the asked names among
/// FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS (=1); others omitted".
/// Each known name is answered once, in the order first asked, which also
/// keeps the answer far below one record's 65535 bytes. Values sent with the
/// names are ignored; a malformed pair is fatal like in PARAMS.
pub(super) fn get_values(
    config: &ServerConfig,
    content: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    const KNOWN: [&[u8]; 3] = [FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS];
    let mut order = [0usize; 3];
    let mut asked = 0;
    for pair in params::pairs(content) {
        let pair = pair.map_err(|error| ProtocolError::MalformedParams {
            request_id: NULL_REQUEST_ID,
            error,
        })?;
        if let Some(known) = KNOWN.iter().position(|name| *name == pair.name) {
            if !order[..asked].contains(&known) {
                order[asked] = known;
                asked += 1;
            }
        }
    }
    let mut value = Vec::with_capacity(20);
    let open = OpenRecord::begin(out, RecordType::GetValuesResult, NULL_REQUEST_ID);
    for &known in &order[..asked] {
        value.clear();
        match known {
            0 => push_decimal(&mut value, config.max_conns as u64),
            1 => push_decimal(&mut value, config.max_reqs as u64),
            _ => value.push(b'1'),
        }
        encode_len(out, KNOWN[known].len());
        encode_len(out, value.len());
        out.extend_from_slice(KNOWN[known]);
        out.extend_from_slice(&value);
    }
    open.finish(out);
    Ok(())
}
