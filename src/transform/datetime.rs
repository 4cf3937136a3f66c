//! Dates and times in PostgreSQL's text form, as the source session prints
//! them (`DateStyle = 'ISO, MDY'`, `TimeZone = 'UTC'`, set in `source.rs`):
//! `2024-01-31`, `2024-01-31 13:45:00.25`, `2024-01-31 13:45:00+00`,
//! `13:45:00`, `13:45:00+05:30`, `0044-03-15 BC`, `infinity`.
//!
//! Days are counted from 1970-01-01 in the proleptic Gregorian calendar
//! with astronomical years (1 BC is year 0), as PostgreSQL does.

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` (year of 4+ digits) into days; no era suffix.
fn parse_ymd(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() < 4
        || m.len() != 2
        || d.len() != 2
        || !(y
            .bytes()
            .chain(m.bytes())
            .chain(d.bytes())
            .all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (y, m, d): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Splits a trailing ` BC` and turns the year astronomical.
fn strip_bc(s: &str) -> (&str, bool) {
    match s.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (s, false),
    }
}

/// A date: days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let (s, bc) = strip_bc(s);
    let days = parse_ymd(s)?;
    Some(if bc { bc_days(days) } else { days })
}

/// Turns the days of "year Y BC" (read as year Y) into astronomical days
/// (year 1 - Y), keeping month and day.
fn bc_days(days: i64) -> i64 {
    let (y, m, d) = civil_from_days(days);
    days_from_civil(1 - y, m, d)
}

/// Appends a date as PostgreSQL prints it.
pub fn write_date(days: i64, out: &mut Vec<u8>) {
    write_date_without_era(days, out);
    if civil_from_days(days).0 <= 0 {
        out.extend_from_slice(b" BC");
    }
}

/// `YYYY-MM-DD` of a date, the year counted from 1 BC backwards before
/// year 1 (the era is the caller's to write).
fn write_date_without_era(days: i64, out: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days(days);
    let year = if y <= 0 { 1 - y } else { y };
    write_padded(year as u64, 4, out);
    out.push(b'-');
    write_padded(u64::from(m), 2, out);
    out.push(b'-');
    write_padded(u64::from(d), 2, out);
}

/// Appends `v` in decimal, zero-padded to at least `width` digits (the
/// `{:0width$}` of `format!`, without the formatting machinery).
fn write_padded(v: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut v = v;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
        if v == 0 {
            break;
        }
    }
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(n)));
    out.extend(digits[..n].iter().rev());
}

/// Parses `HH:MM:SS[.ffffff]` into microseconds of the day (24:00:00 is
/// allowed, as in PostgreSQL).
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    // Byte offsets below are char offsets only in ASCII text (`12:34:5€`
    // would otherwise be sliced inside the `€`).
    if !s.is_ascii() || b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (h, m, sec) = (num(0..2)?, num(3..5)?, num(6..8)?);
    let mut micros = 0;
    if b.len() > 8 {
        if b[8] != b'.' || b.len() > 15 || b.len() == 9 {
            return None;
        }
        let frac = &s[9..];
        micros = num(9..b.len())? * 10i64.pow(6 - frac.len() as u32);
    }
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + micros;
    (m < 60 && sec < 60 && total <= DAY_MICROS).then_some(total)
}

/// Appends `HH:MM:SS[.ffffff]` (fraction without trailing zeros).
pub fn write_time(micros: i64, out: &mut Vec<u8>) {
    let secs = (micros / 1_000_000) as u64;
    let frac = (micros % 1_000_000) as u64;
    write_padded(secs / 3600, 2, out);
    out.push(b':');
    write_padded(secs / 60 % 60, 2, out);
    out.push(b':');
    write_padded(secs % 60, 2, out);
    if frac != 0 {
        out.push(b'.');
        let start = out.len();
        write_padded(frac, 6, out);
        while out.last() == Some(&b'0') && out.len() > start {
            out.pop();
        }
    }
}

/// Where a zone offset starts in a time or timestamp text: the last `+` or
/// `-` after the time part.
fn split_offset(s: &str, time_start: usize) -> (&str, &str) {
    match s[time_start..].rfind(['+', '-']) {
        Some(i) => s.split_at(time_start + i),
        None => (s, ""),
    }
}

/// A timestamp split into microseconds since 1970-01-01 (of its local
/// time) and the zone offset text it carried (`+00`, `+05:30`, or empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp<'a> {
    pub micros: i64,
    pub offset: &'a str,
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]][ BC]`.
pub fn parse_timestamp(s: &str) -> Option<Timestamp<'_>> {
    let (s, bc) = strip_bc(s);
    let space = s.find(' ')?;
    let (date, rest) = (&s[..space], &s[space + 1..]);
    let (time, offset) = split_offset(rest, 0);
    if !offset.is_empty() && !valid_offset(offset) {
        return None;
    }
    let mut days = parse_ymd(date)?;
    if bc {
        days = bc_days(days);
    }
    let t = parse_time(time)?;
    Some(Timestamp {
        micros: days.checked_mul(DAY_MICROS)?.checked_add(t)?,
        offset,
    })
}

/// Appends a timestamp (`offset` as given) as PostgreSQL prints it.
pub fn write_timestamp(micros: i64, offset: &str, out: &mut Vec<u8>) {
    let days = micros.div_euclid(DAY_MICROS);
    write_date_without_era(days, out);
    out.push(b' ');
    write_time(micros.rem_euclid(DAY_MICROS), out);
    out.extend_from_slice(offset.as_bytes());
    if civil_from_days(days).0 <= 0 {
        out.extend_from_slice(b" BC");
    }
}

/// Parses `HH:MM:SS[.f][+HH[:MM]]` into microseconds of the day and the
/// offset text.
pub fn parse_time_with_offset(s: &str) -> Option<(i64, &str)> {
    let (time, offset) = split_offset(s, 0);
    if !offset.is_empty() && !valid_offset(offset) {
        return None;
    }
    Some((parse_time(time)?, offset))
}

fn valid_offset(o: &str) -> bool {
    let b = o.as_bytes();
    b.len() >= 3 && b[1..].iter().all(|c| c.is_ascii_digit() || *c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_times_are_refused_not_sliced() {
        assert_eq!(parse_time("12:34:5€"), None);
        assert_eq!(parse_time("12:34:56.€"), None);
        assert_eq!(parse_timestamp("2024-01-01 12:34:5€"), None);
        assert_eq!(parse_time_with_offset("12:34:5€+01"), None);
    }

    #[test]
    fn civil_round_trips() {
        for d in [-800_000, -719_468, -1, 0, 1, 11_016, 19_754, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn dates_parse_and_print_like_postgres() {
        let mut s = Vec::new();
        for text in [
            "2024-02-29",
            "1900-01-01",
            "0044-03-15 BC",
            "0001-01-01",
            "0001-12-31 BC",
            "12345-06-07",
        ] {
            s.clear();
            write_date(parse_date(text).unwrap(), &mut s);
            assert_eq!(s, text.as_bytes());
        }
        assert_eq!(
            parse_date("0001-01-01").unwrap() - parse_date("0001-12-31 BC").unwrap(),
            1
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "infinity",
            "2024-1-01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_parse_and_print_like_postgres() {
        for text in [
            "2024-01-31 13:45:00",
            "2024-01-31 13:45:00.25",
            "2024-01-31 13:45:00.000001+00",
            "1999-12-31 23:59:59+05:30",
            "2020-06-01 00:00:00-03:30:15",
            "0044-03-15 12:00:00 BC",
        ] {
            let t = parse_timestamp(text).unwrap();
            let mut s = Vec::new();
            write_timestamp(t.micros, t.offset, &mut s);
            assert_eq!(s, text.as_bytes());
        }
        assert_eq!(parse_timestamp("2024-01-31"), None);
        assert_eq!(parse_timestamp("2024-01-31 25:00:00"), None);
    }

    #[test]
    fn times_parse_and_print_like_postgres() {
        assert_eq!(parse_time("24:00:00"), Some(DAY_MICROS));
        assert_eq!(parse_time("12:60:00"), None);
        assert_eq!(
            parse_time_with_offset("13:45:00.5+05:30"),
            Some((49_500_500_000, "+05:30"))
        );
        for (micros, text) in [
            (49_500_500_000, "13:45:00.5"),
            (0, "00:00:00"),
            (DAY_MICROS, "24:00:00"),
            (1, "00:00:00.000001"),
            (3_723_040_000, "01:02:03.04"),
        ] {
            let mut s = Vec::new();
            write_time(micros, &mut s);
            assert_eq!(s, text.as_bytes());
        }
    }
}
