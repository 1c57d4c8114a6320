//! Arbitrary bytes into the name-value pair decoder (`params::pairs`,
//! `validate`, `count_pairs`) and `ParamsAccumulator`. Checks, beyond "no
//! panic":
//! - every pair's offsets locate its name and value inside the buffer, and
//!   the pairs tile the buffer without gaps (the first error ends the walk);
//! - `validate` and `count_pairs` agree with the walk;
//! - re-encoding the decoded pairs and decoding again gives the same pairs;
//! - the accumulator keeps its byte limit whatever the record cuts.
//!
//! The first input byte picks the pair limit and the record size; the rest
//! is the params stream.
#![no_main]

use fcgi_proto::params::{
    self, count_pairs, encode_pair, encoded_pair_len, PairCount, ParamsAccumulator,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, buf)) = data.split_first() else {
        return;
    };

    let mut decoded = Vec::new();
    let mut error = None;
    let mut end = 0;
    for pair in params::pairs(buf) {
        match pair {
            Ok(pair) => {
                assert!(pair.name_offset >= end && pair.name_offset <= end + 8);
                assert_eq!(pair.value_offset, pair.name_offset + pair.name.len());
                assert_eq!(&buf[pair.name_offset..pair.value_offset], pair.name);
                let pair_end = pair.value_offset + pair.value.len();
                assert_eq!(&buf[pair.value_offset..pair_end], pair.value);
                // The lengths took 2 to 8 bytes in front of the name.
                let lengths = pair.name_offset - end;
                assert!((2..=8).contains(&lengths));
                end = pair_end;
                decoded.push((pair.name, pair.value));
            }
            Err(e) => {
                assert!(error.is_none(), "a second error after the first");
                let params::ParamsError::Truncated { offset } = e;
                assert_eq!(offset, end, "the error names where the bad pair starts");
                error = Some(e);
            }
        }
    }
    if error.is_none() {
        assert_eq!(end, buf.len(), "pairs cover the whole buffer");
    }

    assert_eq!(params::validate(buf), error.map_or(Ok(decoded.len()), Err));
    let max_pairs = (knobs & 0x0f) as usize;
    match count_pairs(buf, max_pairs) {
        Ok(PairCount::Within(n)) => {
            assert!(error.is_none());
            assert_eq!(n, decoded.len());
            assert!(n <= max_pairs);
        }
        Ok(PairCount::OverLimit) => assert!(decoded.len() > max_pairs),
        Err(e) => {
            assert_eq!(Some(e), error);
            assert!(decoded.len() <= max_pairs);
        }
    }

    // Round trip through the encoder (canonical lengths, so the bytes may
    // differ from the input, the pairs may not).
    let mut encoded = Vec::new();
    for (name, value) in &decoded {
        let before = encoded.len();
        encode_pair(&mut encoded, name, value);
        assert_eq!(
            encoded.len() - before,
            encoded_pair_len(name.len(), value.len())
        );
    }
    let again: Vec<_> = params::pairs(&encoded)
        .map(|p| {
            p.map(|p| (p.name, p.value))
                .expect("re-encoded pairs decode")
        })
        .collect();
    assert_eq!(again, decoded);

    // The stream cut into records, gathered under a byte limit.
    let record_size = 1 + (knobs >> 4) as usize * 17;
    let max_bytes = buf.len() / 2 + (knobs as usize);
    let mut acc = ParamsAccumulator::new();
    let mut refused = false;
    for chunk in buf.chunks(record_size) {
        if acc.push(chunk, max_bytes).is_err() {
            refused = true;
            break;
        }
    }
    assert!(acc.len() <= max_bytes);
    assert_eq!(refused, buf.len() > max_bytes);
    if !refused {
        assert_eq!(acc.into_bytes(), buf);
    }
});
