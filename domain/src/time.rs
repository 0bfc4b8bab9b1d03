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
    fn plus_secs_saturates() {
        let t = Timestamp::from_unix_millis(i64::MAX - 5);
        assert_eq!(t.plus_secs(u64::MAX), Timestamp::from_unix_millis(i64::MAX));
        assert_eq!(
            Timestamp::from_unix_millis(0).plus_secs(2).unix_millis(),
            2000
        );
    }
}
