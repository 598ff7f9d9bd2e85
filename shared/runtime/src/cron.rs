//! The DeploymentWindow rule's cron expressions, as CodePipeline reads them: six fields and an optional year,
//! `seconds minutes hours day-of-month month day-of-week [year]`, evaluated in a time zone (IANA names from
//! the tz database, `UTC` by default). Seconds accept only `*`; minutes and hours `, - * /`; day-of-month also
//! `? L W` (`L`, `L-3`, `15W`, `LW`); months `1-12` or `JAN-DEC`; day-of-week `1-7` or `SUN-SAT` (1 is
//! Sunday) with `? L #` (`6L` the last Friday, `2#1` the first Monday); years `1970-2199`. One of
//! day-of-month and day-of-week is `?`, or both are given and either may match.
//!
//! A window is open during every minute the expression matches. Pure.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A parsed cron expression with its time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: DayOfMonth,
    months: Vec<u32>,
    weekdays: DayOfWeek,
    years: Option<Vec<u32>>,
    zone: Tz,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfMonth {
    Any,
    Days(Vec<u32>),
    /// `L` or `L-n`: n days before the month's last.
    Last(u32),
    /// `nW`: the weekday nearest day n, in the same month.
    NearestWeekday(u32),
    /// `LW`: the month's last weekday.
    LastWeekday,
}

#[derive(Debug, Clone, PartialEq)]
enum DayOfWeek {
    Any,
    /// Days 1-7, Sunday first.
    Days(Vec<u32>),
    /// `nL`: the month's last day n.
    Last(u32),
    /// `n#k`: the k-th day n of the month.
    Nth(u32, u32),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Reads a DeploymentWindow's `Cron` in `TimeZone` (None: UTC). The error names the field at fault.
pub fn parse(cron: &str, time_zone: Option<&str>) -> Result<Window, String> {
    let zone = match time_zone.map(str::trim).filter(|z| !z.is_empty()) {
        None => Tz::UTC,
        Some(z) => z.parse::<Tz>().map_err(|_| {
            format!("TimeZone {z:?} is not a time zone of the tz database (e.g. UTC, Europe/Paris, America/Los_Angeles)")
        })?,
    };
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "Cron {cron:?} has {} fields; it needs six (seconds minutes hours day-of-month month day-of-week) and may add a year",
            fields.len()
        ));
    }
    if fields[0] != "*" {
        return Err(format!(
            "Cron's seconds field is {:?}; it must be *",
            fields[0]
        ));
    }
    let minutes = list(fields[1], 0, 59, &[], "minutes")?;
    let hours = list(fields[2], 0, 23, &[], "hours")?;
    let days = day_of_month(fields[3])?;
    let months = list(fields[4], 1, 12, &MONTHS, "month")?;
    let weekdays = day_of_week(fields[5])?;
    let years = match fields.get(6) {
        None => None,
        Some(y) => Some(list(y, 1970, 2199, &[], "year")?),
    };
    if days == DayOfMonth::Any && weekdays == DayOfWeek::Any && fields[3] == "?" && fields[5] == "?"
    {
        return Err("Cron cannot have ? for both day-of-month and day-of-week".into());
    }
    Ok(Window {
        minutes,
        hours,
        days,
        months,
        weekdays,
        years,
        zone,
    })
}

fn number(text: &str, names: &[&str], field: &str) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    let upper = text.to_ascii_uppercase();
    names
        .iter()
        .position(|n| *n == upper)
        .map(|i| u32::try_from(i).unwrap_or(0) + 1)
        .ok_or_else(|| format!("Cron's {field} field has {text:?}, which is not a number or name"))
}

/// `*`, `a`, `a-b`, `a/s`, `a-b/s`, `*/s`, joined by commas.
fn list(text: &str, min: u32, max: u32, names: &[&str], field: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("Cron's {field} field has step {s:?}, not a positive number")
                })?;
                (r, step)
            }
            None => (part, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a, names, field)?, number(b, names, field)?)
        } else {
            let a = number(range, names, field)?;
            (a, if part.contains('/') { max } else { a })
        };
        if from < min || to > max || from > to {
            return Err(format!(
                "Cron's {field} field has {part:?}; values go from {min} to {max}"
            ));
        }
        out.extend((from..=to).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn day_of_month(text: &str) -> Result<DayOfMonth, String> {
    let field = "day-of-month";
    Ok(match text {
        "?" | "*" => DayOfMonth::Any,
        "L" => DayOfMonth::Last(0),
        "LW" => DayOfMonth::LastWeekday,
        t if t.starts_with("L-") => {
            let n = t[2..]
                .parse::<u32>()
                .ok()
                .filter(|n| *n < 31)
                .ok_or_else(|| {
                    format!("Cron's {field} field has {t:?}; L-n needs n from 0 to 30")
                })?;
            DayOfMonth::Last(n)
        }
        t if t.ends_with('W') => {
            let n = t[..t.len() - 1]
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=31).contains(n))
                .ok_or_else(|| {
                    format!("Cron's {field} field has {t:?}; nW needs n from 1 to 31")
                })?;
            DayOfMonth::NearestWeekday(n)
        }
        t => DayOfMonth::Days(list(t, 1, 31, &[], field)?),
    })
}

fn day_of_week(text: &str) -> Result<DayOfWeek, String> {
    let field = "day-of-week";
    Ok(match text {
        "?" | "*" => DayOfWeek::Any,
        "L" => DayOfWeek::Days(vec![7]),
        t if t.len() > 1 && t.ends_with('L') => {
            let n = number(&t[..t.len() - 1], &WEEKDAYS, field)?;
            if !(1..=7).contains(&n) {
                return Err(format!(
                    "Cron's {field} field has {t:?}; days go from 1 to 7"
                ));
            }
            DayOfWeek::Last(n)
        }
        t if t.contains('#') => {
            let (d, k) = t.split_once('#').unwrap_or((t, ""));
            let d = number(d, &WEEKDAYS, field)?;
            let k = k
                .parse::<u32>()
                .ok()
                .filter(|k| (1..=5).contains(k))
                .ok_or_else(|| {
                    format!("Cron's {field} field has {t:?}; n#k needs k from 1 to 5")
                })?;
            if !(1..=7).contains(&d) {
                return Err(format!(
                    "Cron's {field} field has {t:?}; days go from 1 to 7"
                ));
            }
            DayOfWeek::Nth(d, k)
        }
        t => DayOfWeek::Days(list(t, 1, 7, &WEEKDAYS, field)?),
    })
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// Sunday 1 .. Saturday 7.
fn weekday(date: NaiveDate) -> u32 {
    date.weekday().number_from_sunday()
}

impl Window {
    fn day_matches(&self, date: NaiveDate) -> bool {
        let (year, month, day) = (date.year(), date.month(), date.day());
        let last = days_in_month(year, month);
        let dom = match &self.days {
            DayOfMonth::Any => None,
            DayOfMonth::Days(d) => Some(d.contains(&day)),
            DayOfMonth::Last(n) => Some(last.checked_sub(*n) == Some(day)),
            DayOfMonth::NearestWeekday(n) => {
                let target = (*n).min(last);
                let t = NaiveDate::from_ymd_opt(year, month, target).unwrap_or(date);
                let nearest = match weekday(t) {
                    7 if target == 1 => target + 2,
                    7 => target - 1,
                    1 if target == last => target - 2,
                    1 => target + 1,
                    _ => target,
                };
                Some(day == nearest)
            }
            DayOfMonth::LastWeekday => {
                let t = NaiveDate::from_ymd_opt(year, month, last).unwrap_or(date);
                let nearest = match weekday(t) {
                    7 => last - 1,
                    1 => last - 2,
                    _ => last,
                };
                Some(day == nearest)
            }
        };
        let wd = weekday(date);
        let dow = match &self.weekdays {
            DayOfWeek::Any => None,
            DayOfWeek::Days(d) => Some(d.contains(&wd)),
            DayOfWeek::Last(n) => Some(wd == *n && day + 7 > last),
            DayOfWeek::Nth(n, k) => Some(wd == *n && (day - 1) / 7 + 1 == *k),
        };
        match (dom, dow) {
            (None, None) => true,
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) => a || b,
        }
    }

    /// Whether the window is open at `at_ms` (milliseconds since the epoch).
    pub fn is_open(&self, at_ms: i64) -> bool {
        let Some(utc) = Utc.timestamp_millis_opt(at_ms).single() else {
            return false;
        };
        let local = utc.with_timezone(&self.zone);
        self.minutes.contains(&local.minute())
            && self.hours.contains(&local.hour())
            && self.months.contains(&local.month())
            && self
                .years
                .as_ref()
                .is_none_or(|y| u32::try_from(local.year()).is_ok_and(|v| y.contains(&v)))
            && self.day_matches(local.date_naive())
    }

    /// When the window next opens after `from_ms`, looking at most `horizon_days` ahead: the first minute
    /// that matches. None when it does not open within the horizon.
    pub fn next_open(&self, from_ms: i64, horizon_days: i64) -> Option<i64> {
        let start: DateTime<Utc> = Utc.timestamp_millis_opt(from_ms).single()?;
        let mut t = start.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let end = start + Duration::days(horizon_days);
        while t <= end {
            let local = t.with_timezone(&self.zone);
            let date = local.date_naive();
            let day_ok = self.months.contains(&local.month()) && self.day_matches(date);
            if !day_ok {
                // Skip to the next local midnight (at least one minute on).
                let next_day = date.succ_opt()?.and_hms_opt(0, 0, 0)?;
                let next = self
                    .zone
                    .from_local_datetime(&next_day)
                    .earliest()
                    .map(|d| d.with_timezone(&Utc))
                    .filter(|d| *d > t)
                    .unwrap_or(t + Duration::hours(1));
                t = next;
                continue;
            }
            if self.is_open(t.timestamp_millis()) {
                return Some(t.timestamp_millis());
            }
            t += if self.hours.contains(&local.hour()) {
                Duration::minutes(1)
            } else {
                Duration::minutes(i64::from(60 - local.minute()))
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .expect(text)
            .timestamp_millis()
    }

    fn check(cron: &str, zone: Option<&str>, open: &[&str], closed: &[&str]) {
        let w = parse(cron, zone).expect(cron);
        for t in open {
            assert!(w.is_open(at(t)), "{cron} should be open at {t}");
        }
        for t in closed {
            assert!(!w.is_open(at(t)), "{cron} should be closed at {t}");
        }
    }

    #[test]
    fn business_hours_on_weekdays() {
        // 2026-12-07 is a Monday.
        check(
            "* * 9-17 ? * MON-FRI",
            None,
            &["2026-12-07T09:00:00Z", "2026-12-11T17:59:00Z"],
            &[
                "2026-12-07T08:59:00Z",
                "2026-12-12T10:00:00Z",
                "2026-12-07T18:00:00Z",
            ],
        );
    }

    #[test]
    fn time_zones_move_the_window() {
        check(
            "* * 9-10 ? * *",
            Some("America/Los_Angeles"),
            &["2026-12-07T17:30:00Z"],
            &["2026-12-07T09:30:00Z"],
        );
        check(
            "* 0/15 * * * ? 2026",
            Some("Asia/Kolkata"),
            &["2026-12-07T00:00:00Z"],
            &["2026-12-07T00:05:00Z", "2027-12-07T00:00:00Z"],
        );
    }

    #[test]
    fn last_and_nth_days() {
        check(
            "* * * L * ?",
            None,
            &["2026-02-28T03:00:00Z"],
            &["2026-02-27T03:00:00Z"],
        );
        check(
            "* * * ? * 6L",
            None,
            &["2026-12-25T03:00:00Z"],
            &["2026-12-18T03:00:00Z"],
        );
        check(
            "* * * ? * 2#1",
            None,
            &["2026-12-07T03:00:00Z"],
            &["2026-12-14T03:00:00Z"],
        );
        // 2026-11-15 is a Sunday: 15W is Monday the 16th.
        check(
            "* * * 15W * ?",
            None,
            &["2026-11-16T03:00:00Z"],
            &["2026-11-15T03:00:00Z"],
        );
    }

    #[test]
    fn bad_expressions_say_which_field() {
        for (cron, zone, says) in [
            ("* * *", None, "needs six"),
            ("0 * * * * ?", None, "seconds"),
            ("* 61 * * * ?", None, "minutes"),
            ("* * * ? * ?", None, "both"),
            ("* * * * FOO ?", None, "month"),
            ("* * * * * ?", Some("Mars/Olympus"), "TimeZone"),
        ] {
            let e = parse(cron, zone).expect_err(cron);
            assert!(e.contains(says), "{cron}: {e}");
        }
    }

    #[test]
    fn the_next_opening_is_the_first_matching_minute() {
        let w = parse("* 30 14 ? * *", Some("Europe/Paris")).expect("cron");
        let next = w.next_open(at("2026-12-07T10:00:00Z"), 7).expect("opens");
        assert_eq!(next, at("2026-12-07T13:30:00Z"));
        let never = parse("* * * ? * * 1999", None).expect("cron");
        assert_eq!(never.next_open(at("2026-12-07T10:00:00Z"), 7), None);
    }
}
