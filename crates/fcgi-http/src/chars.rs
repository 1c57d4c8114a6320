//! Byte classes as lookup tables (a `contains` on a short slice compiles to
//! a memchr call per byte, which showed up in profiles).

const fn table(extra: &[u8], alnum: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = alnum && (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 9110 tchar: the bytes of a token (method, header name, coding).
static TCHAR: [bool; 256] = table(b"!#$%&'*+-.^_`|~", true);

/// uri-host [ ":" port ]: unreserved, pct-encoded, sub-delims, ":" and the
/// brackets of an IP-literal.
static HOST: [bool; 256] = table(b"-._~%!$&'()*+,;=:[]", true);

pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

pub(crate) fn is_host_char(b: u8) -> bool {
    HOST[b as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let tchars: Vec<u8> = (0..=255).filter(|&b| is_tchar(b)).collect();
        assert_eq!(tchars.len(), 62 + 15);
        assert!(!is_tchar(b' ') && !is_tchar(b':') && !is_tchar(b'"') && !is_tchar(0x80));
        assert!(is_host_char(b'[') && is_host_char(b':') && !is_host_char(b'/'));
        assert!(!is_host_char(b' ') && !is_host_char(b'@') && !is_host_char(0xe9));
    }
}
