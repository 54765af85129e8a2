//! Units of time, and the rate syntax `COUNT/UNIT`: one table and one
//! parser for the script (`wait 2 days`, `rate 10/hours`) and the command
//! line (`--rate 10/hours`), so that every rate one accepts the other does.

use std::fmt;

/// Milliseconds in one of a duration unit; `None` for an unknown unit.
/// Units are singular, plural or short: `ms`, `s`, `m`, `h`, `d`, `w`.
pub fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" | "millisecond" | "milliseconds" => 1,
        "s" | "second" | "seconds" => 1_000,
        "m" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 604_800_000,
        _ => return None,
    })
}

/// Milliseconds in one of a rate's period: every duration unit, and the
/// abbreviations `sec` and `min` that rates are often written with.
pub fn rate_unit_millis(unit: &str) -> Option<u64> {
    unit_millis(unit).or(match unit {
        "sec" => Some(1_000),
        "min" => Some(60_000),
        _ => None,
    })
}

/// Every rate unit, for tests and messages.
pub const RATE_UNITS: &[&str] = &[
    "ms",
    "millisecond",
    "milliseconds",
    "s",
    "sec",
    "second",
    "seconds",
    "m",
    "min",
    "minute",
    "minutes",
    "h",
    "hour",
    "hours",
    "d",
    "day",
    "days",
    "w",
    "week",
    "weeks",
];

/// A rate as written: `count` requests per `per_millis` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateSpec {
    /// Requests allowed per period; at least 1.
    pub count: u32,
    /// The period, in milliseconds.
    pub per_millis: u64,
}

/// Why a rate cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateError {
    /// Not `COUNT/UNIT` at all.
    Form,
    /// The count is not a whole number (digits only).
    Count,
    /// The count is above `u32::MAX`.
    TooLarge,
    /// The count is 0.
    Zero,
    /// The unit is not one of [`RATE_UNITS`].
    Unit(String),
}

impl RateError {
    /// Whether the error is about the count (rather than the unit or the
    /// whole), so a diagnostic can point at it.
    pub fn is_about_count(&self) -> bool {
        matches!(
            self,
            RateError::Count | RateError::TooLarge | RateError::Zero
        )
    }
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::Form | RateError::Count => {
                f.write_str("expected COUNT/UNIT such as 50/s, 600/m or 1000/h")
            }
            RateError::TooLarge => f.write_str("the count is too large (at most 4294967295)"),
            RateError::Zero => f.write_str("the count must be at least 1"),
            RateError::Unit(unit) => write!(
                f,
                "unknown unit `{unit}` (use ms, s, sec, m, min, h, d or w, or a unit written out: second, minutes, hours...)"
            ),
        }
    }
}

impl std::error::Error for RateError {}

/// Reads a rate from its count and unit, already split at the `/`.
pub fn rate_from_parts(count: &str, unit: &str) -> Result<RateSpec, RateError> {
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RateError::Count);
    }
    let count: u32 = count.parse().map_err(|_| RateError::TooLarge)?;
    if count == 0 {
        return Err(RateError::Zero);
    }
    let per_millis = rate_unit_millis(unit).ok_or_else(|| RateError::Unit(unit.to_string()))?;
    Ok(RateSpec { count, per_millis })
}

/// What the script's grammar skips between tokens (but comments).
const SPACE: &[char] = &[' ', '\t', '\n', '\r', '\u{feff}'];

/// Reads `COUNT/UNIT` (`50/s`, `600/minutes`, `1000/h`), with optional
/// spaces around either part, as the script's `rate` setting reads it.
pub fn parse_rate(text: &str) -> Result<RateSpec, RateError> {
    let (count, unit) = text.split_once('/').ok_or(RateError::Form)?;
    rate_from_parts(count.trim_matches(SPACE), unit.trim_matches(SPACE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_reads_as_its_duration() {
        for unit in RATE_UNITS {
            let millis = rate_unit_millis(unit).unwrap();
            assert_eq!(
                parse_rate(&format!("7/{unit}")),
                Ok(RateSpec {
                    count: 7,
                    per_millis: millis
                })
            );
        }
        assert_eq!(parse_rate("10/hours").map(|r| r.per_millis), Ok(3_600_000));
        assert_eq!(parse_rate(" 10 / s ").map(|r| r.count), Ok(10));
        for (text, error) in [
            ("", RateError::Form),
            ("50", RateError::Form),
            ("/s", RateError::Count),
            ("+5/s", RateError::Count),
            ("1.5/s", RateError::Count),
            ("0/s", RateError::Zero),
            ("4294967296/s", RateError::TooLarge),
            ("5/S", RateError::Unit("S".into())),
            ("5/s/s", RateError::Unit("s/s".into())),
            ("5/", RateError::Unit(String::new())),
        ] {
            assert_eq!(parse_rate(text), Err(error), "{text:?}");
        }
    }
}
