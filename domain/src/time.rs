//! Instants as the domain sees them: milliseconds since the Unix epoch, always UTC.
//!
//! The domain never reads a clock. The command layer stamps every command with `at`, and `evolve`
//! takes the time of each event from the event itself, so replaying a stream gives the same state on
//! every replica, whenever it runs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant in UTC with millisecond precision, stored as milliseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `secs` seconds, saturating at the end of representable time.
    pub fn plus_secs(self, secs: u64) -> Self {
        let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Midnight UTC of a proleptic Gregorian date, or `None` for a month or day out of range.
    pub fn from_utc_date(year: i64, month: i64, day: i64) -> Option<Self> {
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        days_from_civil(year, month, day)
            .checked_mul(86_400_000)
            .map(Self)
    }

    /// Parses RFC 3339 in UTC (`2026-11-28T17:05:03Z`, fractions optional, `Z` or `+00:00`), or a
    /// plain date (`2026-11-28`, meaning its midnight UTC).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, time) = match text.split_once(['T', 't', ' ']) {
            Some((d, t)) => (d, Some(t)),
            None => (text, None),
        };
        let mut d = date.split('-');
        let (year, month, day) = (
            d.next()?.parse::<i64>().ok()?,
            d.next()?.parse::<i64>().ok()?,
            d.next()?.parse::<i64>().ok()?,
        );
        if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let mut millis = days_from_civil(year, month, day).checked_mul(86_400_000)?;
        if let Some(time) = time {
            let time = time
                .strip_suffix(['Z', 'z'])
                .or_else(|| time.strip_suffix("+00:00"))?;
            let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
            let mut t = hms.split(':');
            let (h, m, s) = (
                t.next()?.parse::<i64>().ok()?,
                t.next()?.parse::<i64>().ok()?,
                t.next().unwrap_or("0").parse::<i64>().ok()?,
            );
            if !(0..24).contains(&h)
                || !(0..60).contains(&m)
                || !(0..61).contains(&s)
                || !fraction.chars().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let ms = format!("{fraction:0<3}").get(..3)?.parse::<i64>().ok()?;
            millis = millis.checked_add(((h * 60 + m) * 60 + s) * 1000 + ms)?;
        }
        Some(Self(millis))
    }

    /// ISO-8601 / RFC 3339 in UTC with seven fractional digits, as LoginRadius writes timestamps
    /// (`2019-09-30T09:51:22.8149253Z`).
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400_000);
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}0000Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms_of_day % 1000
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31, 1..=12).
    (year, day_or_month(month), day_or_month(day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn day_or_month(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_loginradius() {
        assert_eq!(
            Timestamp::from_unix_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.0000000Z"
        );
        // 2019-09-30T09:51:22.814Z
        assert_eq!(
            Timestamp::from_unix_millis(1_569_837_082_814).to_rfc3339(),
            "2019-09-30T09:51:22.8140000Z"
        );
        // A leap day, and an instant before the epoch.
        assert_eq!(
            Timestamp::from_unix_millis(951_782_400_000).to_rfc3339(),
            "2000-02-29T00:00:00.0000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_rfc3339(),
            "1969-12-31T23:59:59.9990000Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_plain_dates() {
        for millis in [0, 1_569_837_082_814, 951_782_400_000, -1, 1_795_871_100_123] {
            let t = Timestamp::from_unix_millis(millis);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28"),
            Timestamp::parse_rfc3339("2026-11-28T00:00:00Z")
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T13:05:00+00:00").map(|t| t.unix_millis()),
            Some(1_795_871_100_000)
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-11-28T25:00:00Z",
            "2026-11-28T13:05:00+02:00",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn plus_secs_saturates() {
        let t = Timestamp::from_unix_millis(i64::MAX - 5);
        assert_eq!(t.plus_secs(u64::MAX), Timestamp::from_unix_millis(i64::MAX));
        assert_eq!(
            Timestamp::from_unix_millis(0).plus_secs(2).unix_millis(),
            2000
        );
    }
}
