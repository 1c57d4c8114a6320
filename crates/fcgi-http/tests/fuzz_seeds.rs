//! The committed fuzz seeds are valid request streams: they must run through
//! the connection loop without an error and be consumed completely, so the
//! fuzzer starts from inputs that reach deep into the parser (checked here on
//! stable, without cargo-fuzz).

mod common;

use common::{errors, targets, Harness};
use fcgi_http::Limits;

#[test]
fn seeds_are_valid_streams() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/http_request");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // The first byte is the fuzz target's knobs (bit 0: tight limits).
        let limits = if data[0] & 1 == 0 {
            Limits::default()
        } else {
            Limits {
                max_target_bytes: 24,
                max_head_bytes: 200,
                max_headers: 4,
                max_body_bytes: 300,
                max_chunk_line_bytes: 16,
                max_trailer_bytes: 40,
            }
        };
        let mut h = Harness::new(limits);
        h.push(&data[1..]);
        assert_eq!(errors(&h.events), [], "{}", path.display());
        assert!(h.buf.is_empty(), "{} ends mid-request", path.display());
        assert!(!targets(&h.events).is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 5);
}
