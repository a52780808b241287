//! `cargo +nightly fuzz run scan` — invariants of `meshgate_guard::scan`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First 16 bytes (if any) double as an "own token".
    let token = text.get(..text.len().min(16));
    let findings = meshgate_guard::scan_with_token(&text, token);
    let mut prev_end = 0;
    for f in &findings {
        assert!(f.span.start < f.span.end, "empty span");
        assert!(f.span.end <= text.len(), "span out of bounds");
        assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end));
        assert!(f.span.start >= prev_end, "unsorted or overlapping");
        prev_end = f.span.end;
        let line = 1 + text[..f.span.start].matches('\n').count();
        assert_eq!(f.line, line);
        let line_start = text[..f.span.start].rfind('\n').map_or(0, |i| i + 1);
        assert_eq!(f.column, 1 + text[line_start..f.span.start].chars().count());
        assert!(!f.to_string().is_empty());
    }
    let _ = meshgate_guard::redact(&text, &findings);
});
