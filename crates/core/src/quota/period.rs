//! Budget periods: UTC calendar days, weeks (from Monday) and months.

use crate::config::Period;

/// The period `now_ms` falls in: its key (`d2026-12-03`, `w2026-11-30`
/// for the week starting that Monday, `m2026-12`, `total`) and when it
/// ends, in ms since the epoch (0 for `total`).
pub fn current(period: Period, now_ms: u64) -> (String, u64) {
    let day = (now_ms / 86_400_000) as i64;
    let ms = |d: i64| (d.max(0) as u64) * 86_400_000;
    match period {
        Period::Total => ("total".into(), 0),
        Period::Daily => {
            let (y, m, d) = civil(day);
            (format!("d{y:04}-{m:02}-{d:02}"), ms(day + 1))
        }
        Period::Weekly => {
            // 1970-01-01 was a Thursday: Monday is 3 days before.
            let monday = day - (day + 3).rem_euclid(7);
            let (y, m, d) = civil(monday);
            (format!("w{y:04}-{m:02}-{d:02}"), ms(monday + 7))
        }
        Period::Monthly => {
            let (y, m, _) = civil(day);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (format!("m{y:04}-{m:02}"), ms(days_from_civil(ny, nm, 1)))
        }
    }
}

/// Year, month, day of a day number (days since 1970-01-01), after
/// Howard Hinnant's `civil_from_days`.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day number of a date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_utc_calendar() {
        // 2026-12-03T13:21:44Z, a Thursday.
        let now = 1_796_304_104_000;
        assert_eq!(current(Period::Daily, now).0, "d2026-12-03");
        assert_eq!(current(Period::Daily, now).1, 1_796_342_400_000);
        assert_eq!(current(Period::Weekly, now).0, "w2026-11-30");
        assert_eq!(
            current(Period::Monthly, now),
            ("m2026-12".into(), 1_798_761_600_000)
        );
        assert_eq!(current(Period::Total, now), ("total".into(), 0));
        // A leap day, and the last day of a year.
        assert_eq!(current(Period::Daily, 1_709_164_800_000).0, "d2024-02-29");
        assert_eq!(current(Period::Monthly, 1_767_139_200_000).0, "m2025-12");
    }
}
