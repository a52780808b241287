use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A stored instant, always rendered as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
///
/// The fixed width and UTC offset make string order equal time order, so
/// backends can compare the text, and Python's `datetime.fromisoformat`
/// reads it.
pub type Timestamp = String;

/// The current instant as a [`Timestamp`].
pub fn now_timestamp() -> Timestamp {
    format_utc(OffsetDateTime::now_utc())
}

/// The instant `age` before now, as a [`Timestamp`] (retention cutoffs).
pub fn timestamp_ago(age: std::time::Duration) -> Timestamp {
    let age = time::Duration::try_from(age).unwrap_or(time::Duration::MAX);
    format_utc(OffsetDateTime::now_utc().checked_sub(age).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// Parses any RFC 3339 / ISO 8601 instant with an offset (or a naive one,
/// taken as UTC, as Python writes them) and renders it as a [`Timestamp`].
/// `None` when the instant, moved to UTC, falls outside the years 0000-9999
/// (e.g. `9999-12-31T23:59:59-00:01`): a stored instant always has four
/// year digits, so string order stays time order.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if is_leap_second(text) {
        // `time` reads `23:59:60` as `23:59:59.999999999`; refused instead.
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return stored(t);
    }
    // Python's isoformat() with an offset but a space separator, or naive.
    let with_t = text.replacen(' ', "T", 1);
    if let Ok(t) = OffsetDateTime::parse(&with_t, &Rfc3339) {
        return stored(t);
    }
    let naive = format!("{with_t}Z");
    OffsetDateTime::parse(&naive, &Rfc3339).ok().and_then(stored)
}

/// `YYYY-MM-DD?HH:MM:60...`: a leap second, which no stored instant holds.
fn is_leap_second(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 19 && b[13] == b':' && b[16] == b':' && &b[17..19] == b"60"
}

/// A parsed instant in UTC, if that is representable and four-digit.
fn stored(t: OffsetDateTime) -> Option<Timestamp> {
    let t = t.checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&t.year()).then(|| format_utc(t))
}

/// The instant `secs` seconds from now as a [`Timestamp`].
pub fn timestamp_in(secs: u64) -> Timestamp {
    format_utc(OffsetDateTime::now_utc() + time::Duration::seconds(secs.min(i64::MAX as u64) as i64))
}

/// Renders an instant already in UTC (callers convert with a checked
/// conversion first: `to_offset` panics out of range).
fn format_utc(t: OffsetDateTime) -> Timestamp {
    debug_assert!(t.offset().is_utc());
    if let Ok(year) = u32::try_from(t.year()) {
        if year <= 9999 {
            // Every send stores one: digits by hand cost a tenth of `format!`
            // (~3,000 instructions).
            let mut out = *b"0000-00-00T00:00:00.000000+00:00";
            let mut put = |at: usize, width: usize, mut value: u32| {
                for i in (at..at + width).rev() {
                    out[i] = b'0' + (value % 10) as u8;
                    value /= 10;
                }
            };
            put(0, 4, year);
            put(5, 2, u8::from(t.month()).into());
            put(8, 2, t.day().into());
            put(11, 2, t.hour().into());
            put(14, 2, t.minute().into());
            put(17, 2, t.second().into());
            put(20, 6, t.microsecond());
            return out.iter().map(|&b| char::from(b)).collect();
        }
    }
    format_utc_by_fmt(t)
}

/// [`format_utc`] with `format!`: any year (the fast path covers 0-9999).
fn format_utc_by_fmt(t: OffsetDateTime) -> Timestamp {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_normalise_to_utc() {
        assert_eq!(parse_timestamp("2026-01-01T01:00:00+01:00").unwrap(), "2026-01-01T00:00:00.000000+00:00");
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.5Z").unwrap(), "2026-01-01T00:00:00.500000+00:00");
        assert_eq!(parse_timestamp("2026-01-01T00:00:00").unwrap(), "2026-01-01T00:00:00.000000+00:00");
        assert!(parse_timestamp("not-a-timestamp").is_none());
    }

    #[test]
    fn digits_by_hand_match_format() {
        let mut t = Some(OffsetDateTime::UNIX_EPOCH - time::Duration::days(800_000));
        let step = time::Duration::new(86_400 * 37 + 3_723, 987_654_321);
        let mut n = 0;
        while let Some(at) = t {
            assert_eq!(format_utc(at), format_utc_by_fmt(at));
            t = at.checked_add(step);
            n += 1;
        }
        assert!(n > 70_000, "{n}");
        let end = OffsetDateTime::parse("9999-12-31T23:59:59.999999Z", &Rfc3339).unwrap();
        assert_eq!(format_utc(end), "9999-12-31T23:59:59.999999+00:00");
        assert_eq!(parse_timestamp("0000-01-01T00:00:00Z").unwrap(), "0000-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn instants_outside_four_digit_years_are_refused_not_panicked_on() {
        for text in [
            "9999-12-31T23:59:59-00:01",
            "9999-12-31 23:59:59-23:59",
            "0000-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00+23:59",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert_eq!(parse_timestamp("9999-12-31T23:59:59+00:01").unwrap(), "9999-12-31T23:58:59.000000+00:00");
        assert_eq!(parse_timestamp("0000-01-01T00:00:00-00:01").unwrap(), "0000-01-01T00:01:00.000000+00:00");
    }

    #[test]
    fn a_leap_second_is_refused() {
        for text in
            ["2026-06-30T23:59:60Z", "2026-06-30 23:59:60+00:00", "9999-12-31T23:59:60.5Z", "2026-06-30T23:59:60"]
        {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert!(parse_timestamp("2026-06-30T23:59:59.999999Z").is_some());
        assert!(parse_timestamp("2026-06-30T23:60:00Z").is_none(), "minute 60 was never valid");
    }

    #[test]
    fn now_has_fixed_width() {
        assert_eq!(now_timestamp().len(), "2026-01-01T00:00:00.000000+00:00".len());
    }
}
