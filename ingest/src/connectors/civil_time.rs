//! Civil time without a date crate: RFC 3339 timestamps (Kick's `created_at`, YouTube's
//! `publishedAt`: `Z` or `±HH:MM`, any fraction) to ms since the epoch, and day numbers to and
//! from proleptic Gregorian dates (Howard Hinnant's algorithms; YouTube's quota reset needs them).

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → ms since the Unix epoch; None when malformed or
/// before 1970.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &b[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let o = h * 60 + m;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec.min(59) - offset_min * 60;
    let total = secs.checked_mul(1000)? + ms;
    u64::try_from(total).ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms as p;
    use super::*;

    #[test]
    fn reads_kick_timestamps() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2025-07-17T08:44:56+00:00"), Some(1_752_741_896_000));
        assert_eq!(p("2025-07-17T10:44:56+02:00"), Some(1_752_741_896_000));
        assert_eq!(p("2025-07-17T08:44:56.375123Z"), Some(1_752_741_896_375));
        assert_eq!(p("2024-02-29T00:00:00.5-01:30"), Some(1_709_170_200_500));
    }

    #[test]
    fn refuses_garbage() {
        for s in [
            "",
            "2025-07-17",
            "2025-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2025-07-17T08:44:56",
            "2025-07-17T08:44:56+0000",
            "1969-12-31T23:59:59Z",
            "2025-07-17T08:44:56.Z",
            "２025-07-17T08:44:56Z",
        ] {
            assert_eq!(p(s), None, "{s}");
        }
    }
    #[test]
    fn reads_youtube_timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2023-05-25T20:08:08.479833+00:00"),
            Some(1_685_045_288_479)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-05-25T22:08:08.4+02:00"),
            Some(1_685_045_288_400)
        );
        assert_eq!(
            parse_rfc3339_ms("2023-05-25T15:08:08-05:00"),
            Some(1_685_045_288_000)
        );
        for bad in [
            "",
            "2023-05-25",
            "2023-05-25T20:08:08",
            "2023-13-25T20:08:08Z",
            "2023-05-25T20:08:08.Z",
            "2023-05-25T2x:08:08Z",
            "2023-05-25T20:08:08+0000",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for z in [-1000, 0, 1, 19_000, 20_500, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2024, 3, 10), 19_792);
    }
}
