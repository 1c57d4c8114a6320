//! Properties: encode→decode roundtrips, independence from how the input is
//! split into reads, and no panics on arbitrary input.

mod common;

use common::{begin, records, App, Ev, Harness};
use fcgi_proto::decoder::Records;
use fcgi_proto::{encoder, params, ClientConnection, RecordType, ServerConfig, Step};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Large payloads, generated from a seed: a byte-by-byte strategy for
/// 100 KiB vectors would dominate the test time.
fn big_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), 0..max).prop_map(|(seed, len)| {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    })
}

/// Names and values around the 127/128 boundary of the 1- and 4-byte forms.
fn pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        prop_oneof![bytes(20), bytes(300)],
        prop_oneof![bytes(20), bytes(300)],
    )
}

/// One thing a web server (or an attacker) can send.
#[derive(Clone, Debug)]
enum Op {
    Begin {
        id: u16,
        role: u16,
        keep_conn: bool,
    },
    /// Valid pairs, cut into two PARAMS records at `cut`, then the empty one.
    Params {
        id: u16,
        pairs: Vec<(Vec<u8>, Vec<u8>)>,
        cut: usize,
    },
    /// Arbitrary PARAMS content (often malformed).
    RawParams {
        id: u16,
        content: Vec<u8>,
    },
    ParamsEnd {
        id: u16,
    },
    Stdin {
        id: u16,
        data: Vec<u8>,
    },
    StdinEnd {
        id: u16,
    },
    Data {
        id: u16,
        data: Vec<u8>,
    },
    DataEnd {
        id: u16,
    },
    Abort {
        id: u16,
    },
    GetValues {
        names: Vec<u8>,
    },
    Unknown {
        record_type: u8,
        id: u16,
    },
    Garbage {
        bytes: Vec<u8>,
    },
}

/// Mostly the few ids a front end uses, rarely 0 (fatal) or any other.
fn id() -> impl Strategy<Value = u16> {
    prop_oneof![60 => 1..4u16, 1 => Just(0u16), 2 => any::<u16>()]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (id(), prop_oneof![8 => 1..4u16, 1 => any::<u16>()], any::<bool>())
            .prop_map(|(id, role, keep_conn)| Op::Begin { id, role, keep_conn }),
        8 => (id(), vec(pair(), 0..6), any::<usize>())
            .prop_map(|(id, pairs, cut)| Op::Params { id, pairs, cut }),
        1 => (id(), bytes(40)).prop_map(|(id, content)| Op::RawParams { id, content }),
        2 => id().prop_map(|id| Op::ParamsEnd { id }),
        6 => (id(), bytes(200)).prop_map(|(id, data)| Op::Stdin { id, data }),
        4 => id().prop_map(|id| Op::StdinEnd { id }),
        2 => (id(), bytes(50)).prop_map(|(id, data)| Op::Data { id, data }),
        2 => id().prop_map(|id| Op::DataEnd { id }),
        3 => id().prop_map(|id| Op::Abort { id }),
        2 => vec(0..4u8, 0..5).prop_map(|names| Op::GetValues { names }),
        2 => (prop_oneof![Just(0u8), 12..=255u8], any::<u16>())
            .prop_map(|(record_type, id)| Op::Unknown { record_type, id }),
        1 => bytes(12).prop_map(|bytes| Op::Garbage { bytes }),
    ]
}

fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            Op::Begin {
                id,
                role,
                keep_conn,
            } => begin(&mut out, *id, *role, *keep_conn),
            Op::Params { id, pairs, cut } => {
                let mut encoded = Vec::new();
                for (name, value) in pairs {
                    params::encode_pair(&mut encoded, name, value);
                }
                let cut = cut % (encoded.len() + 1);
                encoder::params(&mut out, *id, &encoded[..cut]);
                encoder::params(&mut out, *id, &encoded[cut..]);
                encoder::stream_end(&mut out, RecordType::Params, *id);
            }
            Op::RawParams { id, content } => encoder::params(&mut out, *id, content),
            Op::ParamsEnd { id } => encoder::stream_end(&mut out, RecordType::Params, *id),
            Op::Stdin { id, data } => encoder::stdin(&mut out, *id, data),
            Op::StdinEnd { id } => encoder::stream_end(&mut out, RecordType::Stdin, *id),
            Op::Data { id, data } => encoder::data(&mut out, *id, data),
            Op::DataEnd { id } => encoder::stream_end(&mut out, RecordType::Data, *id),
            Op::Abort { id } => encoder::abort_request(&mut out, *id),
            Op::GetValues { names } => {
                let known: [&[u8]; 4] = [
                    b"FCGI_MAX_CONNS",
                    b"FCGI_MAX_REQS",
                    b"FCGI_MPXS_CONNS",
                    b"OTHER",
                ];
                encoder::get_values(&mut out, names.iter().map(|&n| known[n as usize]));
            }
            Op::Unknown { record_type, id } => {
                encoder::record(&mut out, RecordType::Other(*record_type), *id, b"?")
            }
            Op::Garbage { bytes } => out.extend_from_slice(bytes),
        }
    }
    out
}

/// Small limits so the 431 and OVERLOADED paths are reached.
fn small_config() -> ServerConfig {
    ServerConfig {
        max_reqs: 2,
        max_params_bytes: 600,
        max_params: 4,
        ..ServerConfig::default()
    }
}

/// Feeds `input` in pieces cut at `cuts` (positions taken modulo the length).
fn run_split(input: &[u8], cuts: &[usize], app: App) -> Harness {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    let mut h = Harness::new(small_config(), app);
    for window in points.windows(2) {
        h.push(&input[window[0]..window[1]]);
    }
    h
}

fn assert_same(a: &Harness, b: &Harness) {
    assert_eq!(a.events, b.events);
    assert_eq!(a.out, b.out);
    assert_eq!(a.error, b.error);
    assert_eq!(
        a.conn.active_ids().collect::<Vec<_>>(),
        b.conn.active_ids().collect::<Vec<_>>()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn params_roundtrip(pairs in vec(pair(), 0..20)) {
        let mut buf = Vec::new();
        for (name, value) in &pairs {
            params::encode_pair(&mut buf, name, value);
        }
        prop_assert_eq!(buf.len(), pairs.iter().map(|(n, v)| params::encoded_pair_len(n.len(), v.len())).sum::<usize>());
        let decoded: Vec<(Vec<u8>, Vec<u8>)> = params::pairs(&buf)
            .map(|p| { let p = p.unwrap(); (p.name.to_vec(), p.value.to_vec()) })
            .collect();
        prop_assert_eq!(&decoded, &pairs);
        prop_assert_eq!(params::validate(&buf), Ok(pairs.len()));
    }

    #[test]
    fn params_decoder_never_panics(buf in bytes(64)) {
        let _ = params::validate(&buf);
        for pair in params::pairs(&buf).flatten() {
            prop_assert_eq!(&buf[pair.name_offset..pair.value_offset], pair.name);
        }
    }

    #[test]
    fn stream_records_roundtrip(
        record_type in 1..=255u8,
        id in any::<u16>(),
        data in prop_oneof![bytes(100), big_bytes(140_000)],
    ) {
        let record_type = RecordType::from_u8(record_type);
        let mut out = Vec::new();
        encoder::stream(&mut out, record_type, id, &data);
        let mut joined = Vec::new();
        let mut records = Records::new(&out);
        for record in records.by_ref() {
            let record = record.unwrap();
            prop_assert_eq!(record.header.record_type, record_type);
            prop_assert_eq!(record.header.request_id, id);
            prop_assert!(!record.content.is_empty() && record.content.len() <= 65535);
            prop_assert_eq!(record.encoded_len() % 8, 0);
            joined.extend_from_slice(record.content);
        }
        prop_assert_eq!(records.consumed(), out.len());
        prop_assert_eq!(joined, data);
    }

    #[test]
    fn split_points_do_not_change_anything(
        ops in vec(op(), 0..30),
        cuts in vec(any::<usize>(), 0..20),
        respond in any::<bool>(),
    ) {
        let input = encode_ops(&ops);
        let app = if respond { App::Respond } else { App::Passive };
        let whole = run_split(&input, &[], app);
        let split = run_split(&input, &cuts, app);
        assert_same(&whole, &split);
        // Every output the server writes decodes, padded, on record boundaries.
        records(&whole.out);
    }

    #[test]
    fn byte_at_a_time_is_the_same(ops in vec(op(), 0..12)) {
        let input = encode_ops(&ops);
        let whole = run_split(&input, &[], App::Respond);
        let cuts: Vec<usize> = (1..input.len()).collect();
        let bytewise = run_split(&input, &cuts, App::Respond);
        assert_same(&whole, &bytewise);
    }

    #[test]
    fn garbage_never_panics(input in bytes(600), cuts in vec(any::<usize>(), 0..8)) {
        run_split(&input, &cuts, App::Respond);
        // Behind a valid request, so the bytes reach the request paths too.
        let mut prefixed = Vec::new();
        begin(&mut prefixed, 1, 1, true);
        prefixed.extend_from_slice(&input);
        run_split(&prefixed, &cuts, App::Passive);
        // And the client side.
        let mut client = ClientConnection::new();
        client.begin_request(1, fcgi_proto::Role::Responder, true, &mut Vec::new()).unwrap();
        let mut pos = 0;
        while let Ok(Step::Record { consumed, .. }) = client.feed(&input[pos..]) {
            pos += consumed;
        }
    }

    #[test]
    fn mutated_valid_streams_never_panic(
        ops in vec(op(), 1..15),
        flips in vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut input = encode_ops(&ops);
        if !input.is_empty() {
            for (at, value) in flips {
                let at = at % input.len();
                input[at] = value;
            }
        }
        run_split(&input, &[], App::Respond);
    }

    #[test]
    fn client_to_server_roundtrip(
        pairs in vec(pair(), 0..10),
        body in prop_oneof![bytes(100), big_bytes(200_000)],
        keep_conn in any::<bool>(),
        cuts in vec(any::<usize>(), 0..10),
    ) {
        let mut client = ClientConnection::new();
        let mut wire = Vec::new();
        let refs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        client.send_request(1, fcgi_proto::Role::Responder, keep_conn, refs, &body, &mut wire).unwrap();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.extend([0, wire.len()]);
        points.sort_unstable();
        let mut h = Harness::passive();
        for window in points.windows(2) {
            h.push(&wire[window[0]..window[1]]);
        }
        prop_assert_eq!(&h.error, &None);
        let mut expected_params = Vec::new();
        for (name, value) in &pairs {
            params::encode_pair(&mut expected_params, name, value);
        }
        prop_assert_eq!(&h.events[0], &Ev::Begin(1, fcgi_proto::Role::Responder, keep_conn));
        prop_assert_eq!(&h.events[1], &Ev::ParamsDone(1, expected_params, pairs.len()));
        let mut received = Vec::new();
        for event in &h.events[2..h.events.len() - 1] {
            match event {
                Ev::Stdin(1, chunk) => received.extend_from_slice(chunk),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        prop_assert_eq!(h.events.last(), Some(&Ev::StdinEnd(1)));
        prop_assert_eq!(received, body);
    }
}
