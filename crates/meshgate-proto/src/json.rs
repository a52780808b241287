//! A JSON string writer for the hot read path, byte-for-byte what
//! `serde_json` writes, checking eight bytes at a time for the few that
//! need escaping (message bodies are mostly plain text).

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `x` is a control character, `"` or `\`.
fn has_special(x: u64) -> bool {
    // The classic "has a byte below n" / "has a zero byte" bit tricks;
    // bytes >= 0x80 (UTF-8) never match because of the `!x` term.
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS != 0
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
    }
}

/// Whether any byte of `block` needs escaping. Written as one pass of
/// byte compares folded with `|`, which the compiler turns into SIMD
/// compares (SSE2 on x86-64: 16 bytes in a handful of instructions).
#[inline(always)]
fn block_has_special(block: &[u8; 16]) -> bool {
    block.iter().fold(false, |any, &b| any | needs_escape(b))
}

/// Writes `bytes[*start..end]`, escaping as it goes, where `bytes[from..end]`
/// holds a byte that needs it; moves `*start` past the last escape.
fn escape_span(out: &mut Vec<u8>, bytes: &[u8], start: &mut usize, from: usize, end: usize) {
    for (i, &b) in bytes[from..end].iter().enumerate() {
        if needs_escape(b) {
            out.extend_from_slice(&bytes[*start..from + i]);
            write_escape(out, b);
            *start = from + i + 1;
        }
    }
}

/// Appends `s` as a quoted JSON string, checking 16 bytes per step; only a
/// block holding a byte to escape is gone through byte by byte.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut blocks = bytes.chunks_exact(16);
    let mut at = 0;
    for block in &mut blocks {
        if block_has_special(block.try_into().expect("16-byte block")) {
            escape_span(out, bytes, &mut start, at, at + 16);
        }
        at += 16;
    }
    // The last 0..=15 bytes: checked as one block padded with plain bytes.
    let rest = blocks.remainder();
    let mut last = [b' '; 16];
    last[..rest.len()].copy_from_slice(rest);
    if block_has_special(&last) {
        escape_span(out, bytes, &mut start, at, bytes.len());
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The length of `s` as [`write_str`] writes it (quotes included).
pub(crate) fn str_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = bytes.len() + 2;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if has_special(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"))) {
            len += chunk.iter().map(|&b| escape_extra(b)).sum::<usize>();
        }
    }
    len + chunks.remainder().iter().map(|&b| escape_extra(b)).sum::<usize>()
}

/// Bytes an escape adds beyond the byte itself.
fn escape_extra(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
        b if b < 0x20 => 5,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_ascii_byte_at_every_offset_escapes_like_serde() {
        for b in 0u8..=0x7f {
            for pad in 0..41 {
                let s = format!("{}{}{}", "a".repeat(pad), b as char, "é🚀".repeat(pad % 3));
                assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "byte {b:#x} after {pad}");
            }
        }
    }

    #[test]
    fn mixed_text_escapes_like_serde() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet: Vec<char> = "ab \"\\\n\r\t\u{0}\u{1f}\u{7f}é€🚀{}:,".chars().collect();
        for len in 0..200 {
            let s: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
            assert_eq!(str_len(&s), ours(&s).len());
        }
    }

    #[test]
    fn str_len_counts_every_escape() {
        for b in 0u8..=0x7f {
            for pad in 0..17 {
                let s = format!("{}{}{}", "a".repeat(pad), b as char, "é🚀".repeat(pad % 3));
                assert_eq!(str_len(&s), ours(&s).len(), "byte {b:#x} after {pad}");
            }
        }
    }
}
