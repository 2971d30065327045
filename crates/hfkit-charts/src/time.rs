//! Dates of the index (`created: 2024-05-01T10:00:00.123Z`) and durations
//! (`--min-age 3d`), without a date library.

/// Seconds since the Unix epoch of an RFC 3339 date-time (`2024-05-01T10:00:00Z`,
/// fractions and `+02:00` offsets allowed; a bare date is midnight UTC).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (date, rest) = t.split_at(t.find(['T', 't', ' ']).unwrap_or(t.len()));
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(y, m, day) * 86_400;
    if rest.is_empty() {
        return Some(secs);
    }
    let rest = &rest[1..];
    let tz_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, tz) = rest.split_at(tz_at);
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let (h, mi, s) = (
        num(c.next()?)?,
        num(c.next()?)?,
        num(c.next().unwrap_or("0"))?,
    );
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    secs += h * 3600 + mi * 60 + s;
    match tz.chars().next() {
        None | Some('Z') | Some('z') => {}
        Some(sign) => {
            let mut o = tz[1..].split(':');
            let oh = num(o.next()?)?;
            let om = num(o.next().unwrap_or("0"))?;
            let off = oh * 3600 + om * 60;
            secs += if sign == '+' { -off } else { off };
        }
    }
    Some(secs)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads a duration: a number followed by `s`, `m`, `h`, `d` or `w` (`3d`, `12h`,
/// `1w2d`); a bare number is days.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u64>().ok().map(|d| d * 86_400);
    }
    let mut total = 0u64;
    let mut n = String::new();
    for ch in t.chars() {
        if ch.is_ascii_digit() {
            n.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        total += n.parse::<u64>().ok()? * unit;
        n.clear();
    }
    if !n.is_empty() {
        return None;
    }
    Some(total)
}

/// A duration as a person reads it: `3d 4h`, `25m`, `10s`.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The current time in seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.123456789Z"),
            Some(1_714_557_600)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00+02:00"),
            Some(1_714_557_600)
        );
        assert_eq!(parse_rfc3339("2024-05-01"), Some(1_714_521_600));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3d"), Some(259_200));
        assert_eq!(parse_duration("1w2d"), Some(777_600));
        assert_eq!(parse_duration("2"), Some(172_800));
        assert_eq!(parse_duration("3x"), None);
        assert_eq!(format_duration(90_000), "1d 1h");
    }
}
