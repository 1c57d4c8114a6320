//! `ClientConnection` against `ServerConnection`, and the client's own checks.

mod common;

use common::{begin, App, Harness};
use fcgi_proto::record::{FCGI_MAX_REQS, FCGI_MPXS_CONNS};
use fcgi_proto::{
    encoder, ClientConnection, ClientEvent, ProtocolError, ProtocolStatus, RecordType, Role,
    ServerConfig, Step,
};

#[derive(Debug, PartialEq, Eq)]
enum Ce {
    Stdout(u16, Vec<u8>),
    StdoutEnd(u16),
    Stderr(u16, Vec<u8>),
    StderrEnd(u16),
    End(u16, u32, ProtocolStatus),
    GetValuesResult(Vec<u8>),
    UnknownType(u8),
}

/// Decodes everything in `input`; stops at the first error.
fn decode_all(client: &mut ClientConnection, input: &[u8]) -> (Vec<Ce>, Option<ProtocolError>) {
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        match client.feed(&input[pos..]) {
            Err(error) => return (events, Some(error)),
            Ok(Step::Incomplete { .. }) => return (events, None),
            Ok(Step::Record { consumed, event }) => {
                pos += consumed;
                events.push(match event.expect("every record is an event") {
                    ClientEvent::Stdout { id, chunk } => Ce::Stdout(id, chunk.to_vec()),
                    ClientEvent::StdoutEnd { id } => Ce::StdoutEnd(id),
                    ClientEvent::Stderr { id, chunk } => Ce::Stderr(id, chunk.to_vec()),
                    ClientEvent::StderrEnd { id } => Ce::StderrEnd(id),
                    ClientEvent::End {
                        id,
                        app_status,
                        protocol_status,
                    } => Ce::End(id, app_status, protocol_status),
                    ClientEvent::GetValuesResult { content } => {
                        Ce::GetValuesResult(content.to_vec())
                    }
                    ClientEvent::UnknownType { record_type } => Ce::UnknownType(record_type),
                });
            }
        }
    }
}

#[test]
fn request_and_response_roundtrip() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    let id = client.free_id().unwrap();
    assert_eq!(id, 1);
    let pairs = [
        (&b"REQUEST_METHOD"[..], &b"POST"[..]),
        (b"CONTENT_LENGTH", b"4"),
    ];
    client
        .send_request(id, Role::Responder, true, pairs, b"body", &mut wire)
        .unwrap();
    assert!(client.is_active(1));
    assert_eq!(client.free_id(), Some(2));

    let mut server = Harness::new(ServerConfig::default(), App::Respond);
    server.push(&wire);
    assert_eq!(server.error, None);

    let (events, error) = decode_all(&mut client, &server.out);
    assert_eq!(error, None);
    let Ce::Stdout(1, head) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(head.starts_with(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"));
    assert_eq!(
        events[1..],
        [
            Ce::Stderr(1, b"log line".to_vec()),
            Ce::StdoutEnd(1),
            Ce::StderrEnd(1),
            Ce::End(1, 0, ProtocolStatus::RequestComplete),
        ]
    );
    assert!(!client.is_active(1));
    assert_eq!(client.active_count(), 0);
}

#[test]
fn refusals_end_the_request_on_the_client() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    client
        .begin_request(1, Role::Responder, true, &mut wire)
        .unwrap();
    let mut server = Harness::new(
        ServerConfig {
            overloaded: true,
            ..ServerConfig::default()
        },
        App::Passive,
    );
    server.push(&wire);
    let (events, error) = decode_all(&mut client, &server.out);
    assert_eq!(error, None);
    assert_eq!(events, [Ce::End(1, 0, ProtocolStatus::Overloaded)]);
    assert!(!client.is_active(1));
}

#[test]
fn get_values_and_unknown_type_roundtrip() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    client.get_values([FCGI_MAX_REQS, FCGI_MPXS_CONNS], &mut wire);
    encoder::record(&mut wire, RecordType::Other(99), 0, b"");
    let mut server = Harness::passive();
    server.push(&wire);
    let (events, error) = decode_all(&mut client, &server.out);
    assert_eq!(error, None);
    let mut expected = Vec::new();
    fcgi_proto::params::encode_pair(&mut expected, FCGI_MAX_REQS, b"256");
    fcgi_proto::params::encode_pair(&mut expected, FCGI_MPXS_CONNS, b"1");
    assert_eq!(events, [Ce::GetValuesResult(expected), Ce::UnknownType(99)]);
}

#[test]
fn abort_roundtrip() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    client
        .begin_request(3, Role::Authorizer, false, &mut wire)
        .unwrap();
    client.abort(3, &mut wire);
    let mut server = Harness::new(ServerConfig::default(), App::Respond);
    server.push(&wire);
    let (events, _) = decode_all(&mut client, &server.out);
    assert_eq!(
        events,
        [
            Ce::StdoutEnd(3),
            Ce::End(3, 1, ProtocolStatus::RequestComplete)
        ]
    );
}

#[test]
fn filter_data_stream_reaches_the_server() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    client
        .send_request(1, Role::Filter, true, [], b"", &mut wire)
        .unwrap();
    client.data(1, b"file", &mut wire);
    client.data_end(1, &mut wire);
    let mut server = Harness::passive();
    server.push(&wire);
    use common::Ev;
    assert_eq!(
        server.events[3..],
        [Ev::Data(1, b"file".to_vec()), Ev::DataEnd(1)]
    );
}

#[test]
fn begin_request_misuse_is_refused() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    assert!(client
        .begin_request(0, Role::Responder, true, &mut wire)
        .is_err());
    client
        .begin_request(1, Role::Responder, true, &mut wire)
        .unwrap();
    let len = wire.len();
    assert_eq!(
        client.begin_request(1, Role::Responder, true, &mut wire),
        Err(ProtocolError::DuplicateRequestId { request_id: 1 })
    );
    assert_eq!(wire.len(), len, "nothing written on error");
}

fn client_error(active: &[u16], input: &[u8]) -> Option<ProtocolError> {
    let mut client = ClientConnection::new();
    for &id in active {
        client
            .begin_request(id, Role::Responder, true, &mut Vec::new())
            .unwrap();
    }
    decode_all(&mut client, input).1
}

#[test]
fn client_rejects_what_a_server_must_not_send() {
    let mut wire = Vec::new();
    encoder::stdout(&mut wire, 5, b"x");
    assert_eq!(
        client_error(&[], &wire),
        Some(ProtocolError::UnknownRequestId {
            record_type: RecordType::Stdout,
            request_id: 5
        })
    );

    let mut wire = Vec::new();
    encoder::stream_end(&mut wire, RecordType::Stderr, 0);
    assert_eq!(
        client_error(&[], &wire),
        Some(ProtocolError::NullRequestId {
            record_type: RecordType::Stderr
        })
    );

    let mut wire = Vec::new();
    begin(&mut wire, 1, 1, true);
    assert!(matches!(
        client_error(&[1], &wire),
        Some(ProtocolError::UnexpectedRecordType { .. })
    ));

    let mut wire = Vec::new();
    encoder::record(&mut wire, RecordType::EndRequest, 1, &[0; 5]);
    assert!(matches!(
        client_error(&[1], &wire),
        Some(ProtocolError::BodyTooShort { .. })
    ));

    let mut wire = Vec::new();
    encoder::record(&mut wire, RecordType::UnknownType, 1, &[0; 8]);
    assert!(matches!(
        client_error(&[1], &wire),
        Some(ProtocolError::ManagementRecordWithId { .. })
    ));

    let mut wire = Vec::new();
    encoder::record(&mut wire, RecordType::UnknownType, 0, &[0; 2]);
    assert!(matches!(
        client_error(&[], &wire),
        Some(ProtocolError::BodyTooShort { .. })
    ));

    let mut wire = Vec::new();
    encoder::record(&mut wire, RecordType::GetValuesResult, 0, &[9]);
    assert!(matches!(
        client_error(&[], &wire),
        Some(ProtocolError::MalformedParams { .. })
    ));

    let mut wire = Vec::new();
    encoder::record(&mut wire, RecordType::Other(12), 0, &[]);
    assert!(matches!(
        client_error(&[], &wire),
        Some(ProtocolError::UnexpectedRecordType { .. })
    ));

    assert_eq!(
        client_error(&[], b"HTTP/1.1 200 OK"),
        Some(ProtocolError::UnsupportedVersion { version: b'H' })
    );
}

#[test]
fn client_stays_failed() {
    let mut client = ClientConnection::new();
    assert!(client.feed(&[2; 8]).is_err());
    let mut wire = Vec::new();
    encoder::get_values_result(&mut wire, []);
    assert!(client.feed(&wire).is_err());
}

#[test]
fn many_requests_in_flight() {
    let mut client = ClientConnection::new();
    let mut wire = Vec::new();
    for _ in 0..100 {
        let id = client.free_id().unwrap();
        client
            .send_request(id, Role::Responder, true, [], b"", &mut wire)
            .unwrap();
    }
    assert_eq!(client.active_count(), 100);
    let mut server = Harness::new(ServerConfig::default(), App::Respond);
    server.push(&wire);
    let (events, error) = decode_all(&mut client, &server.out);
    assert_eq!(error, None);
    assert_eq!(
        events.iter().filter(|e| matches!(e, Ce::End(..))).count(),
        100
    );
    assert_eq!(client.active_count(), 0);
}
