//! One test per row of docs/protocol-behaviour.md ("Records in", "Records
//! out"), in the table's order, against `ServerConnection`.

mod common;

use common::{begin, end_request_body, params, records, App, Ev, Harness};
use fcgi_proto::record::{FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS};
use fcgi_proto::{
    encoder, ProtocolError, RecordType, Refusal, Role, ServerConfig, BODY_TOO_LARGE_RESPONSE,
    OVERLOADED_AUTHORIZER_RESPONSE, PARAMS_TOO_LARGE_RESPONSE,
};

const GET: &[(&[u8], &[u8])] = &[(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/")];

fn end_record(id: u16, app_status: u32, protocol_status: u8) -> (RecordType, u16, Vec<u8>) {
    (
        RecordType::EndRequest,
        id,
        end_request_body(app_status, protocol_status),
    )
}

fn encoded_pairs(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut buf = Vec::new();
    for (name, value) in pairs {
        fcgi_proto::params::encode_pair(&mut buf, name, value);
    }
    buf
}

// --- version byte != 1: log, close the connection

#[test]
fn version_other_than_1_closes() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    let mut bad = Vec::new();
    encoder::stdin(&mut bad, 1, b"x");
    bad[0] = 0;
    input.extend_from_slice(&bad);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.events, [Ev::Begin(1, Role::Responder, true)]);
    assert_eq!(
        h.error,
        Some(ProtocolError::UnsupportedVersion { version: 0 })
    );
    assert!(h.out.is_empty());
    // The active request is still listed, so the caller can abort it.
    assert_eq!(h.conn.active_ids().collect::<Vec<_>>(), [1]);
}

#[test]
fn version_is_judged_on_the_header_alone() {
    // An HTTP client on the FastCGI port: refused before any content.
    let mut h = Harness::passive();
    h.push(b"GET / HT");
    assert_eq!(
        h.error,
        Some(ProtocolError::UnsupportedVersion { version: b'G' })
    );
}

#[test]
fn a_failed_connection_stays_failed() {
    let mut h = Harness::passive();
    let mut out = Vec::new();
    assert!(h.conn.feed(&[9; 8], &mut out).is_err());
    let mut valid = Vec::new();
    begin(&mut valid, 1, 1, true);
    assert_eq!(
        h.conn.feed(&valid, &mut out),
        Err(ProtocolError::UnsupportedVersion { version: 9 })
    );
    assert_eq!(
        h.conn.error(),
        Some(&ProtocolError::UnsupportedVersion { version: 9 })
    );
}

// --- BEGIN_REQUEST with content shorter than 8 bytes, or request id 0: close

#[test]
fn short_begin_request_closes() {
    for len in 0..8 {
        let mut input = Vec::new();
        encoder::record(
            &mut input,
            RecordType::BeginRequest,
            1,
            &[0, 1, 1, 0, 0, 0, 0][..len],
        );
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(
            h.error,
            Some(ProtocolError::BodyTooShort {
                record_type: RecordType::BeginRequest,
                request_id: 1,
                content_length: len as u16,
            })
        );
        assert!(h.events.is_empty());
    }
}

#[test]
fn longer_begin_request_body_is_accepted() {
    let mut input = Vec::new();
    encoder::record(
        &mut input,
        RecordType::BeginRequest,
        1,
        &[0, 2, 0, 0, 0, 0, 0, 0, 7, 7],
    );
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.events, [Ev::Begin(1, Role::Authorizer, false)]);
}

#[test]
fn begin_request_with_id_0_closes() {
    let mut input = Vec::new();
    begin(&mut input, 0, 1, true);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(
        h.error,
        Some(ProtocolError::NullRequestId {
            record_type: RecordType::BeginRequest
        })
    );
}

// --- BEGIN_REQUEST for an id that is already active: close

#[test]
fn duplicate_begin_request_closes() {
    let mut input = Vec::new();
    begin(&mut input, 5, 1, true);
    begin(&mut input, 5, 1, true);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.events, [Ev::Begin(5, Role::Responder, true)]);
    assert_eq!(
        h.error,
        Some(ProtocolError::DuplicateRequestId { request_id: 5 })
    );
}

#[test]
fn an_ended_id_can_begin_again() {
    let mut h = Harness::new(ServerConfig::default(), App::Respond);
    let mut input = Vec::new();
    for _ in 0..3 {
        begin(&mut input, 1, 1, true);
        params(&mut input, 1, GET);
    }
    h.push(&input);
    assert_eq!(h.error, None);
    let ends = h
        .out_records()
        .into_iter()
        .filter(|r| r.0 == RecordType::EndRequest)
        .count();
    assert_eq!(ends, 3);
}

// --- BEGIN_REQUEST with role not 1/2/3: END_REQUEST(app 0, UNKNOWN_ROLE); the id stays free

#[test]
fn unknown_role_is_answered_and_the_id_stays_free() {
    for role in [0u16, 4, 0xffff] {
        let mut input = Vec::new();
        begin(&mut input, 3, role, false);
        begin(&mut input, 3, 3, true);
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(h.error, None);
        assert_eq!(
            h.events,
            [
                Ev::Refused(3, Refusal::UnknownRole { role }, false),
                Ev::Begin(3, Role::Filter, true),
            ]
        );
        assert_eq!(h.out_records(), [end_record(3, 0, 3)]);
    }
}

// --- BEGIN_REQUEST while maxReqs requests are active, or on a connection
//     accepted past maxConns: END_REQUEST(app 0, OVERLOADED)

#[test]
fn over_max_reqs_is_overloaded() {
    let config = ServerConfig {
        max_reqs: 2,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config, App::Passive);
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    begin(&mut input, 2, 1, true);
    begin(&mut input, 3, 1, true);
    h.push(&input);
    assert_eq!(h.events[2], Ev::Refused(3, Refusal::Overloaded, true));
    assert_eq!(h.out_records(), [end_record(3, 0, 2)]);
    assert_eq!(h.conn.active_count(), 2);
    assert!(h.conn.request(3).is_none());

    // Once one ends there is room again.
    h.out.clear();
    h.conn.end_request(1, 0, &mut Vec::new()).unwrap();
    let mut input = Vec::new();
    begin(&mut input, 3, 1, true);
    h.push(&input);
    assert_eq!(h.events[3], Ev::Begin(3, Role::Responder, true));
    assert!(h.out.is_empty());
}

#[test]
fn connection_past_max_conns_is_overloaded() {
    let config = ServerConfig {
        overloaded: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config, App::Passive);
    let mut input = Vec::new();
    begin(&mut input, 9, 1, false);
    params(&mut input, 9, GET);
    encoder::stream_end(&mut input, RecordType::Stdin, 9);
    h.push(&input);
    // Refused, and the rest of the request is ignored as its id is free.
    assert_eq!(h.events, [Ev::Refused(9, Refusal::Overloaded, false)]);
    assert_eq!(h.out_records(), [end_record(9, 0, 2)]);
}

#[test]
fn connection_past_max_conns_closes_even_with_keep_conn() {
    let config = ServerConfig {
        overloaded: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config, App::Passive);
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    h.push(&input);
    // the refusal is final: the caller closes once the answer is flushed
    assert_eq!(h.events, [Ev::Refused(1, Refusal::Overloaded, false)]);
    assert_eq!(h.out_records(), [end_record(1, 0, 2)]);
}

#[test]
fn overloaded_authorizer_is_denied_in_its_output_too() {
    let config = ServerConfig {
        overloaded: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config, App::Passive);
    let mut input = Vec::new();
    begin(&mut input, 4, 2, true);
    h.push(&input);
    assert_eq!(h.events, [Ev::Refused(4, Refusal::Overloaded, false)]);
    // lighttpd reads only the output of an Authorizer: a 503 there, not just the status
    assert_eq!(
        h.out_records(),
        [
            (
                RecordType::Stdout,
                4,
                OVERLOADED_AUTHORIZER_RESPONSE.to_vec()
            ),
            (RecordType::Stdout, 4, Vec::new()),
            end_record(4, 0, 2)
        ]
    );
}

#[test]
fn overload_can_be_switched_for_draining() {
    let mut h = Harness::passive();
    h.conn.set_overloaded(true);
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    h.push(&input);
    h.conn.set_overloaded(false);
    h.push(&input);
    assert_eq!(
        h.events,
        [
            Ev::Refused(1, Refusal::Overloaded, false),
            Ev::Begin(1, Role::Responder, true)
        ]
    );
}

#[test]
fn unknown_role_is_checked_before_overload() {
    let config = ServerConfig {
        overloaded: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config, App::Passive);
    let mut input = Vec::new();
    begin(&mut input, 1, 9, true);
    h.push(&input);
    assert_eq!(h.out_records(), [end_record(1, 0, 3)]);
}

// --- ABORT_REQUEST for an active id: signal aborts; the library ends the
//     request: empty STDOUT + END_REQUEST(app 1, REQUEST_COMPLETE)

#[test]
fn abort_of_an_active_request() {
    let mut input = Vec::new();
    begin(&mut input, 4, 1, true);
    params(&mut input, 4, GET);
    encoder::abort_request(&mut input, 4);
    encoder::abort_request(&mut input, 4);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.events.last(), Some(&Ev::Abort(4)));
    assert_eq!(
        h.events.iter().filter(|e| **e == Ev::Abort(4)).count(),
        1,
        "reported once"
    );
    assert!(h.conn.request(4).unwrap().aborted);
    let state = h.conn.end_request(4, 1, &mut h.out).unwrap();
    assert!(state.aborted);
    assert_eq!(
        h.out_records(),
        [(RecordType::Stdout, 4, vec![]), end_record(4, 1, 0)]
    );
}

#[test]
fn abort_cuts_a_response_in_progress() {
    let mut input = Vec::new();
    begin(&mut input, 4, 1, true);
    params(&mut input, 4, GET);
    let mut h = Harness::passive();
    h.push(&input);
    assert!(h
        .conn
        .write_stdout(4, b"Status: 200 OK\r\n\r\npart", &mut h.out));
    assert!(h.conn.write_stderr(4, b"oops", &mut h.out));
    let mut input = Vec::new();
    encoder::abort_request(&mut input, 4);
    h.push(&input);
    assert_eq!(h.events.last(), Some(&Ev::Abort(4)));
    h.conn.end_request(4, 1, &mut h.out).unwrap();
    let out = h.out_records();
    assert_eq!(
        out[2..],
        [
            (RecordType::Stdout, 4, vec![]),
            (RecordType::Stderr, 4, vec![]),
            end_record(4, 1, 0)
        ]
    );
    // Writes after the end go nowhere.
    assert!(!h.conn.write_stdout(4, b"late", &mut h.out));
    assert!(h.conn.end_request(4, 1, &mut h.out).is_none());
}

// --- PARAMS / STDIN / DATA / ABORT for an id that is not active: ignored
//     (also after the request ended)

#[test]
fn records_for_inactive_ids_are_ignored() {
    let mut input = Vec::new();
    params(&mut input, 7, GET);
    encoder::stdin(&mut input, 7, b"body");
    encoder::stream_end(&mut input, RecordType::Stdin, 7);
    encoder::data(&mut input, 7, b"data");
    encoder::stream_end(&mut input, RecordType::Data, 7);
    encoder::abort_request(&mut input, 7);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.error, None);
    assert!(h.events.is_empty());
    assert!(h.out.is_empty());
}

#[test]
fn rest_of_a_body_after_the_request_ended_is_ignored() {
    let mut h = Harness::new(ServerConfig::default(), App::Respond);
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    params(&mut input, 1, GET);
    h.push(&input);
    let out_len = h.out.len();
    let mut rest = Vec::new();
    encoder::stdin(&mut rest, 1, &[b'b'; 1000]);
    encoder::stream_end(&mut rest, RecordType::Stdin, 1);
    encoder::abort_request(&mut rest, 1);
    h.push(&rest);
    assert_eq!(h.error, None);
    assert_eq!(h.events.len(), 2);
    assert_eq!(h.out.len(), out_len);
}

// --- STDIN / DATA before the params ended: buffered, delivered in order once
//     the request is dispatched (the caller holds the early events)

#[test]
fn stdin_and_data_before_params_arrive_in_order() {
    let mut input = Vec::new();
    begin(&mut input, 2, 3, true);
    encoder::stdin(&mut input, 2, b"early");
    encoder::data(&mut input, 2, b"file");
    params(&mut input, 2, GET);
    encoder::stdin(&mut input, 2, b"late");
    encoder::stream_end(&mut input, RecordType::Stdin, 2);
    encoder::stream_end(&mut input, RecordType::Data, 2);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(
        h.events,
        [
            Ev::Begin(2, Role::Filter, true),
            Ev::Stdin(2, b"early".to_vec()),
            Ev::Data(2, b"file".to_vec()),
            Ev::ParamsDone(2, encoded_pairs(GET), 2),
            Ev::Stdin(2, b"late".to_vec()),
            Ev::StdinEnd(2),
            Ev::DataEnd(2),
        ]
    );
    let state = h.conn.request(2).unwrap();
    assert!(state.params_done && state.stdin_ended && state.data_ended);
}

#[test]
fn stream_records_after_the_empty_one_are_ignored() {
    let mut input = Vec::new();
    begin(&mut input, 2, 3, true);
    encoder::stream_end(&mut input, RecordType::Stdin, 2);
    encoder::stdin(&mut input, 2, b"after");
    encoder::stream_end(&mut input, RecordType::Stdin, 2);
    encoder::stream_end(&mut input, RecordType::Data, 2);
    encoder::data(&mut input, 2, b"after");
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(
        h.events,
        [
            Ev::Begin(2, Role::Filter, true),
            Ev::StdinEnd(2),
            Ev::DataEnd(2)
        ]
    );
}

// --- STDIN for an Authorizer, DATA for a Responder or Authorizer: ignored:
//     those streams are empty for those roles from BEGIN_REQUEST on

#[test]
fn streams_a_role_does_not_have_are_ignored() {
    for (role, stdin, data) in [
        (Role::Responder, true, false),
        (Role::Authorizer, false, false),
        (Role::Filter, true, true),
    ] {
        let mut input = Vec::new();
        begin(&mut input, 1, role.as_u16(), true);
        let mut h = Harness::passive();
        h.push(&input);
        let state = h.conn.request(1).unwrap();
        assert_eq!((state.stdin_ended, state.data_ended), (!stdin, !data));
        let mut input = Vec::new();
        encoder::stdin(&mut input, 1, b"in");
        encoder::stream_end(&mut input, RecordType::Stdin, 1);
        encoder::data(&mut input, 1, b"file");
        encoder::stream_end(&mut input, RecordType::Data, 1);
        h.push(&input);
        let mut expected = vec![Ev::Begin(1, role, true)];
        if stdin {
            expected.extend([Ev::Stdin(1, b"in".to_vec()), Ev::StdinEnd(1)]);
        }
        if data {
            expected.extend([Ev::Data(1, b"file".to_vec()), Ev::DataEnd(1)]);
        }
        assert_eq!(h.events, expected, "{role:?}");
        assert!(h.out.is_empty());
    }
}

// --- PARAMS after the empty PARAMS record: ignored

#[test]
fn params_after_the_end_are_ignored() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    params(&mut input, 1, GET);
    params(&mut input, 1, &[(b"LATE", b"1")]);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.events.len(), 2);
    assert_eq!(h.events[1], Ev::ParamsDone(1, encoded_pairs(GET), 2));
}

// --- params bytes > maxParamsBytes or pairs > maxParams: the handler is not
//     called; STDOUT Status: 431 + END_REQUEST(app 0, REQUEST_COMPLETE); the
//     rest of that request's records are ignored

fn limited(max_params_bytes: usize, max_params: usize) -> Harness {
    let config = ServerConfig {
        max_params_bytes,
        max_params,
        ..ServerConfig::default()
    };
    Harness::new(config, App::Passive)
}

fn expect_431(h: &Harness, id: u16, keep_conn: bool, reason: Refusal) {
    assert_eq!(h.error, None);
    assert_eq!(
        h.events,
        [
            Ev::Begin(id, Role::Responder, keep_conn),
            Ev::Refused(id, reason, keep_conn)
        ]
    );
    assert_eq!(
        h.out_records(),
        [
            (RecordType::Stdout, id, PARAMS_TOO_LARGE_RESPONSE.to_vec()),
            (RecordType::Stdout, id, vec![]),
            end_record(id, 0, 0),
        ]
    );
    assert!(h.conn.is_idle());
}

#[test]
fn the_431_response_is_the_js_engines() {
    // lib/fastcgi/head.ts: cgiErrorResponse(431)
    assert_eq!(
        PARAMS_TOO_LARGE_RESPONSE,
        b"Status: 431 Request Header Fields Too Large\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nRequest Header Fields Too Large\n"
    );
}

#[test]
fn params_over_the_byte_limit_get_431() {
    let pairs: &[(&[u8], &[u8])] = &[(b"A", &[b'x'; 100])]; // 103 bytes
    for (limit, refused) in [(102, true), (103, false)] {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, false);
        params(&mut input, 1, pairs);
        encoder::stdin(&mut input, 1, b"ignored");
        encoder::stream_end(&mut input, RecordType::Stdin, 1);
        let mut h = limited(limit, 1000);
        h.push(&input);
        if refused {
            expect_431(&h, 1, false, Refusal::ParamsTooLarge);
        } else {
            assert_eq!(h.events[1], Ev::ParamsDone(1, encoded_pairs(pairs), 1));
        }
    }
}

#[test]
fn byte_limit_is_checked_while_gathering() {
    // Params that never end are cut off once they pass the limit.
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    for _ in 0..20 {
        encoder::params(&mut input, 1, &[b'p'; 10]);
    }
    let mut h = limited(95, 1000);
    h.push(&input);
    expect_431(&h, 1, true, Refusal::ParamsTooLarge);
}

#[test]
fn state_shows_params_progress() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    encoder::params(&mut input, 1, &[3, 0, b'a', b'b']);
    let mut h = Harness::passive();
    h.push(&input);
    let state = h.conn.request(1).unwrap();
    assert!(!state.params_done);
    assert_eq!(state.params_bytes, 4);
}

#[test]
fn too_many_params_get_431() {
    let names: Vec<Vec<u8>> = (0..11).map(|i| format!("N{i}").into_bytes()).collect();
    let pairs: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&n[..], &b"v"[..])).collect();
    for (max, refused) in [(10, true), (11, false)] {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, true);
        params(&mut input, 1, &pairs);
        let mut h = limited(1 << 20, max);
        h.push(&input);
        if refused {
            expect_431(&h, 1, true, Refusal::TooManyParams);
        } else {
            assert_eq!(h.events[1], Ev::ParamsDone(1, encoded_pairs(&pairs), 11));
        }
    }
}

#[test]
fn other_requests_go_on_after_a_431() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    begin(&mut input, 2, 1, true);
    encoder::params(&mut input, 1, &[b'p'; 200]);
    params(&mut input, 2, GET);
    encoder::stream_end(&mut input, RecordType::Params, 1);
    let mut h = limited(100, 1000);
    h.push(&input);
    assert_eq!(h.events[2], Ev::Refused(1, Refusal::ParamsTooLarge, true));
    assert_eq!(h.events[3], Ev::ParamsDone(2, encoded_pairs(GET), 2));
    assert_eq!(h.events.len(), 4);
    assert_eq!(h.conn.active_ids().collect::<Vec<_>>(), [2]);
}

// --- a name-value pair whose lengths run past the params: close

#[test]
fn malformed_params_close() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    // name length 5, value length 1, but only 3 bytes follow.
    encoder::params(&mut input, 1, &[5, 1, b'a', b'b', b'c']);
    encoder::stream_end(&mut input, RecordType::Params, 1);
    let mut h = Harness::passive();
    h.push(&input);
    assert!(matches!(
        h.error,
        Some(ProtocolError::MalformedParams { request_id: 1, .. })
    ));
    assert!(h.out.is_empty());
}

#[test]
fn pairs_are_checked_in_order_up_to_the_limit() {
    // Two good pairs, then a 4-byte length cut short.
    let mut pairs = encoded_pairs(&[(b"A", b"1"), (b"B", b"2")]);
    pairs.push(0x80);
    let run = |max_params| {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, true);
        encoder::params(&mut input, 1, &pairs);
        encoder::stream_end(&mut input, RecordType::Params, 1);
        let mut h = limited(1 << 20, max_params);
        h.push(&input);
        h
    };
    // The broken pair comes before the limit: close.
    assert!(matches!(
        run(2).error,
        Some(ProtocolError::MalformedParams { .. })
    ));
    // The limit comes first (as in the js engine's decodePairs): 431.
    expect_431(&run(1), 1, true, Refusal::TooManyParams);
}

#[test]
fn params_split_at_every_byte() {
    let big = vec![b'v'; 300];
    let pairs: &[(&[u8], &[u8])] = &[(b"SHORT", b"1"), (b"LONG", &big), (&[b'n'; 130], b"")];
    let encoded = encoded_pairs(pairs);
    for cut in 0..=encoded.len() {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, true);
        encoder::params(&mut input, 1, &encoded[..cut]);
        encoder::params(&mut input, 1, &encoded[cut..]);
        encoder::stream_end(&mut input, RecordType::Params, 1);
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(
            h.events[1],
            Ev::ParamsDone(1, encoded.clone(), 3),
            "cut {cut}"
        );
    }
}

// --- GET_VALUES with id 0: GET_VALUES_RESULT with the asked names among
//     FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS (=1); others omitted

fn get_values_answer(names: &[&[u8]], config: ServerConfig) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut input = Vec::new();
    encoder::get_values(&mut input, names.iter().copied());
    let mut h = Harness::new(config, App::Passive);
    h.push(&input);
    assert_eq!(h.error, None);
    assert!(h.events.is_empty());
    let out = h.out_records();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1), (RecordType::GetValuesResult, 0));
    fcgi_proto::params::pairs(&out[0].2)
        .map(|p| {
            let p = p.unwrap();
            (p.name.to_vec(), p.value.to_vec())
        })
        .collect()
}

#[test]
fn get_values_answers_the_known_names() {
    let answer = get_values_answer(
        &[FCGI_MPXS_CONNS, b"OTHER", FCGI_MAX_CONNS, FCGI_MAX_REQS],
        ServerConfig::default(),
    );
    assert_eq!(
        answer,
        [
            (FCGI_MPXS_CONNS.to_vec(), b"1".to_vec()),
            (FCGI_MAX_CONNS.to_vec(), b"10000".to_vec()),
            (FCGI_MAX_REQS.to_vec(), b"256".to_vec()),
        ]
    );
}

#[test]
fn get_values_uses_the_config_and_answers_each_name_once() {
    let config = ServerConfig {
        max_reqs: 7,
        max_conns: 3,
        ..ServerConfig::default()
    };
    let names = [FCGI_MAX_REQS, FCGI_MAX_REQS, FCGI_MAX_CONNS, FCGI_MAX_REQS];
    assert_eq!(
        get_values_answer(&names, config),
        [
            (FCGI_MAX_REQS.to_vec(), b"7".to_vec()),
            (FCGI_MAX_CONNS.to_vec(), b"3".to_vec()),
        ]
    );
}

#[test]
fn get_values_without_known_names_gets_an_empty_result() {
    assert!(get_values_answer(&[], ServerConfig::default()).is_empty());
    assert!(get_values_answer(&[b"fcgi_max_reqs"], ServerConfig::default()).is_empty());
}

#[test]
fn get_values_values_are_ignored() {
    let mut content = Vec::new();
    fcgi_proto::params::encode_pair(&mut content, FCGI_MPXS_CONNS, b"ignored");
    let mut input = Vec::new();
    encoder::record(&mut input, RecordType::GetValues, 0, &content);
    let mut h = Harness::passive();
    h.push(&input);
    let mut expected = Vec::new();
    encoder::get_values_result(&mut expected, [(FCGI_MPXS_CONNS, &b"1"[..])]);
    assert_eq!(h.out, expected);
}

#[test]
fn malformed_get_values_closes() {
    let mut input = Vec::new();
    encoder::record(&mut input, RecordType::GetValues, 0, &[20, 0, b'x']);
    let mut h = Harness::passive();
    h.push(&input);
    assert!(matches!(
        h.error,
        Some(ProtocolError::MalformedParams { request_id: 0, .. })
    ));
}

// --- record type 0 or >= 12, any id: UNKNOWN_TYPE (8-byte body, first byte
//     the type); the connection goes on

#[test]
fn unknown_types_are_answered() {
    for (record_type, id) in [(0u8, 0u16), (12, 1), (255, 0xffff), (200, 0)] {
        let mut input = Vec::new();
        encoder::record(&mut input, RecordType::Other(record_type), id, b"whatever");
        begin(&mut input, 1, 1, true);
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(h.error, None);
        assert_eq!(
            h.out_records(),
            [(
                RecordType::UnknownType,
                0,
                vec![record_type, 0, 0, 0, 0, 0, 0, 0]
            )]
        );
        assert_eq!(h.events, [Ev::Begin(1, Role::Responder, true)]);
    }
}

// --- types only an application sends (3, 6, 7, 10, 11), or a management type
//     with an id != 0, or an application type with id 0: close

#[test]
fn application_only_types_close() {
    for record_type in [
        RecordType::EndRequest,
        RecordType::Stdout,
        RecordType::Stderr,
        RecordType::GetValuesResult,
        RecordType::UnknownType,
    ] {
        for id in [0u16, 1] {
            let mut input = Vec::new();
            encoder::record(&mut input, record_type, id, &[0; 8]);
            let mut h = Harness::passive();
            h.push(&input);
            assert_eq!(
                h.error,
                Some(ProtocolError::UnexpectedRecordType {
                    record_type,
                    request_id: id
                })
            );
        }
    }
}

#[test]
fn get_values_with_an_id_closes() {
    let mut input = Vec::new();
    encoder::record(&mut input, RecordType::GetValues, 1, &[]);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(
        h.error,
        Some(ProtocolError::ManagementRecordWithId {
            record_type: RecordType::GetValues,
            request_id: 1
        })
    );
}

#[test]
fn application_types_with_id_0_close() {
    for record_type in [
        RecordType::AbortRequest,
        RecordType::Params,
        RecordType::Stdin,
        RecordType::Data,
    ] {
        let mut input = Vec::new();
        encoder::record(&mut input, record_type, 0, &[]);
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(h.error, Some(ProtocolError::NullRequestId { record_type }));
    }
}

// --- EOF in the middle of a record: close; active requests' signals abort

#[test]
fn eof_mid_record_leaves_an_incomplete_step_and_the_active_ids() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    begin(&mut input, 2, 1, true);
    encoder::stdin(&mut input, 1, b"partial body");
    input.truncate(input.len() - 5);
    let mut h = Harness::passive();
    h.push(&input);
    assert_eq!(h.error, None);
    // The caller sees leftover bytes at EOF: close and abort these.
    assert!(!h.buf.is_empty());
    assert_eq!(h.conn.active_ids().collect::<Vec<_>>(), [1, 2]);
}

#[test]
fn incomplete_steps_say_how_much_is_needed() {
    let mut input = Vec::new();
    encoder::stdin(&mut input, 1, &[1; 100]);
    let mut conn = fcgi_proto::ServerConnection::new(ServerConfig::default());
    let mut out = Vec::new();
    assert_eq!(
        conn.feed(&input[..3], &mut out),
        Ok(fcgi_proto::Step::Incomplete { needed: 8 })
    );
    assert_eq!(
        conn.feed(&input[..50], &mut out),
        Ok(fcgi_proto::Step::Incomplete {
            needed: 8 + 100 + 4
        })
    );
}

// --- Records out

#[test]
fn stdout_and_stderr_are_split_at_65535_and_padded() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    params(&mut input, 1, GET);
    let mut h = Harness::passive();
    h.push(&input);
    let big = vec![7u8; 65535 * 2 + 3];
    assert!(h.conn.write_stdout(1, &big, &mut h.out));
    assert!(h.conn.write_stderr(1, &big[..65536], &mut h.out));
    let out = h.out_records();
    let sizes: Vec<(RecordType, usize)> = out.iter().map(|r| (r.0, r.2.len())).collect();
    assert_eq!(
        sizes,
        [
            (RecordType::Stdout, 65535),
            (RecordType::Stdout, 65535),
            (RecordType::Stdout, 3),
            (RecordType::Stderr, 65535),
            (RecordType::Stderr, 1),
        ]
    );
}

#[test]
fn a_request_ends_with_terminators_then_end_request() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, false);
    params(&mut input, 1, GET);
    let mut h = Harness::passive();
    h.push(&input);
    h.conn
        .write_stdout(1, b"Status: 200 OK\r\n\r\n", &mut h.out);
    let state = h.conn.end_request(1, 0, &mut h.out).unwrap();
    assert!(!state.keep_conn, "caller half-closes after flushing");
    assert!(!state.stderr_written);
    let out = h.out_records();
    assert_eq!(
        out[1..],
        [(RecordType::Stdout, 1, vec![]), end_record(1, 0, 0)]
    );
    assert!(h.conn.is_idle());

    // With stderr written, an empty STDERR comes between.
    let mut input = Vec::new();
    begin(&mut input, 2, 1, true);
    let mut h = Harness::passive();
    h.push(&input);
    h.conn.write_stderr(2, b"warn", &mut h.out);
    h.conn.end_request(2, 0, &mut h.out).unwrap();
    assert_eq!(
        h.out_records()[1..],
        [
            (RecordType::Stdout, 2, vec![]),
            (RecordType::Stderr, 2, vec![]),
            end_record(2, 0, 0)
        ]
    );
}

#[test]
fn release_frees_without_writing() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    let mut h = Harness::passive();
    h.push(&input);
    h.conn.write_stderr(1, b"x", &mut h.out);
    let state = h.conn.release(1).unwrap();
    assert!(state.stderr_written);
    assert!(h.conn.is_idle());
    assert_eq!(records(&h.out).len(), 1);
}

#[test]
fn multiplexed_requests_are_independent() {
    let mut input = Vec::new();
    for id in 1..=3 {
        begin(&mut input, id, 1, true);
    }
    for id in [3, 1, 2] {
        params(&mut input, id, GET);
        encoder::stdin(&mut input, id, &[id as u8; 10]);
    }
    let mut h = Harness::passive();
    h.push(&input);
    let done: Vec<u16> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Ev::ParamsDone(id, ..) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(done, [3, 1, 2]);
    assert_eq!(h.events.last(), Some(&Ev::Stdin(2, vec![2; 10])));
}

#[test]
fn padding_of_any_length_is_skipped() {
    for padding in [0u8, 1, 7, 8, 255] {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, true);
        let mut record = vec![1, 5, 0, 1, 0, 2, padding, 0, b'h', b'i'];
        record.extend(std::iter::repeat_n(0xee, padding as usize));
        input.extend_from_slice(&record);
        encoder::stream_end(&mut input, RecordType::Stdin, 1);
        let mut h = Harness::passive();
        h.push(&input);
        assert_eq!(
            h.events[1..],
            [Ev::Stdin(1, b"hi".to_vec()), Ev::StdinEnd(1)],
            "padding {padding}"
        );
    }
}

// --- body > maxBodyBytes: 413 (or the stream is cut if the response started)

fn body_limited(max_body_bytes: u64) -> Harness {
    let config = ServerConfig {
        max_body_bytes,
        ..ServerConfig::default()
    };
    Harness::new(config, App::Passive)
}

#[test]
fn a_body_past_the_limit_is_reported_once_and_the_rest_ignored() {
    let mut input = Vec::new();
    begin(&mut input, 1, 1, true);
    params(&mut input, 1, GET);
    encoder::stdin(&mut input, 1, b"12345");
    encoder::stdin(&mut input, 1, b"6");
    encoder::stdin(&mut input, 1, b"more");
    encoder::stream_end(&mut input, RecordType::Stdin, 1);
    let mut h = body_limited(5);
    h.push(&input);
    assert_eq!(h.error, None);
    assert_eq!(
        h.events[2..],
        [Ev::Stdin(1, b"12345".to_vec()), Ev::BodyTooLarge(1)]
    );
    assert_eq!(h.conn.request(1).unwrap().stdin_bytes, 6);
}

#[test]
fn refuse_body_answers_413_before_the_response_and_cuts_after() {
    for started in [false, true] {
        let mut input = Vec::new();
        begin(&mut input, 1, 1, true);
        params(&mut input, 1, GET);
        encoder::stdin(&mut input, 1, b"12");
        let mut h = body_limited(1);
        h.push(&input);
        assert_eq!(h.events.last(), Some(&Ev::BodyTooLarge(1)));
        let mut out = Vec::new();
        let state = h.conn.refuse_body(1, started, &mut out).unwrap();
        assert!(state.keep_conn);
        assert!(h.conn.is_idle());
        let mut want = Vec::new();
        if !started {
            encoder::stdout(&mut want, 1, BODY_TOO_LARGE_RESPONSE);
        }
        encoder::end_sequence(&mut want, 1, started as u32, false);
        assert_eq!(out, want);
        assert_eq!(h.conn.refuse_body(1, started, &mut out), None);
    }
}

#[test]
fn refusals_say_which_limit_in_the_log() {
    assert_eq!(
        Refusal::ParamsTooLarge.log_message(3).as_deref(),
        Some("request 3: params larger than maxParamsBytes, answered 431")
    );
    assert_eq!(
        Refusal::TooManyParams.log_message(3).as_deref(),
        Some("request 3: more params than maxParams, answered 431")
    );
    assert_eq!(Refusal::Overloaded.log_message(3), None);
    assert!(Refusal::TooManyParams.after_begin() && !Refusal::Overloaded.after_begin());
    assert_eq!(
        fcgi_proto::body_too_large_message(2),
        "request 2: body larger than maxBodyBytes, answered 413"
    );
}

#[test]
fn fatal_errors_are_logged_in_the_js_engine_words() {
    let cases = [
        (
            ProtocolError::UnsupportedVersion { version: 2 },
            "unsupported FastCGI version 2",
        ),
        (
            ProtocolError::NullRequestId {
                record_type: RecordType::BeginRequest,
            },
            "malformed FCGI_BEGIN_REQUEST",
        ),
        (
            ProtocolError::NullRequestId {
                record_type: RecordType::Stdin,
            },
            "record type 5 with request id 0",
        ),
        (
            ProtocolError::DuplicateRequestId { request_id: 4 },
            "FCGI_BEGIN_REQUEST for active request 4",
        ),
    ];
    for (error, words) in cases {
        assert_eq!(error.log_message(), words);
    }
}
