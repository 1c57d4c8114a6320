//! The committed fuzz seeds are valid record streams: they must run through
//! `ServerConnection` without a protocol error, so the fuzzer starts from
//! inputs that reach deep into the state machine (checked here on stable,
//! without cargo-fuzz).

mod common;

use common::{records, App, Harness};
use fcgi_proto::{RecordType, ServerConfig};

#[test]
fn seeds_are_valid_streams() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/server_connection");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // The first byte is the fuzz target's knobs; the rest is the stream.
        let mut h = Harness::new(ServerConfig::default(), App::Respond);
        h.push(&data[1..]);
        assert_eq!(h.error, None, "{}", path.display());
        assert!(h.buf.is_empty(), "{} ends mid-record", path.display());
        assert!(
            records(&h.out)
                .iter()
                .any(|r| matches!(r.0, RecordType::EndRequest | RecordType::GetValuesResult)),
            "{} gets an answer",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 5);
}
