//! Points in time as milliseconds since the Unix epoch, the unit stored in history events.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, in milliseconds since the Unix epoch (UTC).
///
/// Serialized as a bare integer so history rows stay compact and stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `seconds` (saturating).
    pub fn plus_seconds(self, seconds: f64) -> Self {
        let millis = (seconds.max(0.0) * 1000.0).round();
        // A float-to-int `as` cast saturates, which is the behaviour wanted here.
        Self(self.0.saturating_add(millis as u64))
    }

    /// Parses an RFC 3339 timestamp (`2024-05-01T12:00:00Z`), as Step Functions accepts in
    /// `Wait.Timestamp` and the `Timestamp*` Choice operators. Instants before the epoch are refused.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        u64::try_from(millis).ok().map(Self)
    }

    /// Formats like Step Functions' context object does: `2024-05-01T12:00:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return String::new();
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.millisecond()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339_with_millis() {
        let t = Timestamp::parse_rfc3339("2024-05-01T12:00:00.123Z").expect("parses");
        assert_eq!(t.as_millis(), 1_714_564_800_123);
        assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00.123Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2024-05-01T14:00:00+02:00"),
            Timestamp::parse_rfc3339("2024-05-01T12:00:00Z")
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }
}
