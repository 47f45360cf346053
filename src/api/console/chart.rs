//! The 24-hour chart of a connection's traffic (token issues and
//! refreshes), as inline SVG drawn on the server: one bar per hour that
//! had any, none for hours without.

use maud::{html, Markup};
use time::{Duration, OffsetDateTime};

/// Hours shown: the current one and the 23 before it.
pub const HOURS: i64 = 24;

const BAR_WIDTH: i64 = 20;
const HEIGHT: i64 = 100;

/// When the chart starts: the start of the hour 23 hours before `now`'s.
pub fn start(now: OffsetDateTime) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let hour = now
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(now);
    hour - Duration::hours(HOURS - 1)
}

/// Counts per hour of `times` (events outside the window are ignored).
pub fn buckets(now: OffsetDateTime, times: &[OffsetDateTime]) -> [u64; HOURS as usize] {
    let start = start(now);
    let mut counts = [0u64; HOURS as usize];
    for t in times {
        let hours = (*t - start).whole_hours();
        if let Ok(i) = usize::try_from(hours) {
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
    }
    counts
}

/// The chart for the events at `times`, as of `now`.
pub fn chart(now: OffsetDateTime, times: &[OffsetDateTime]) -> Markup {
    let start = start(now);
    let counts = buckets(now, times);
    let total: u64 = counts.iter().sum();
    let busiest = counts.iter().copied().max().unwrap_or(0).max(1);
    let hour_fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]");
    let label = format!(
        "Token issues and refreshes per hour over the last 24 hours: {total} in all, at most {} in one hour",
        counts.iter().max().unwrap_or(&0)
    );
    html! {
        svg.chart role="img" aria-label=(label) viewBox=(format!("0 0 {} {}", HOURS * BAR_WIDTH, HEIGHT + 2)) preserveAspectRatio="none" {
            line.axis x1="0" y1=(HEIGHT) x2=(HOURS * BAR_WIDTH) y2=(HEIGHT) {}
            @for (i, count) in counts.iter().enumerate() {
                @if *count > 0 {
                    @let hour = start + Duration::hours(i as i64);
                    @let h = ((*count as i64) * (HEIGHT - 4) / busiest as i64).max(2);
                    rect.bar data-hour=(hour.format(&hour_fmt).unwrap_or_default())
                        x=(i as i64 * BAR_WIDTH + 2) y=(HEIGHT - h) width=(BAR_WIDTH - 4) height=(h) {
                        title { (hour.format(&hour_fmt).unwrap_or_default()) ":00 UTC: " (count) }
                    }
                }
            }
        }
        @if total == 0 {
            p.chart-empty { "No token issues or refreshes in the last 24 hours." }
        } @else {
            p.chart-range { "From " (start.format(&hour_fmt).unwrap_or_default()) ":00 UTC (left) to now (right); hover a bar for its hour." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_chart_without_traffic_says_so_and_one_with_traffic_does_not() {
        let now = datetime!(2026-12-01 06:40 UTC);
        let empty = chart(now, &[]).into_string();
        assert!(empty.contains("chart-empty"), "{empty}");
        let busy = chart(now, &[datetime!(2026-12-01 06:05 UTC)]).into_string();
        assert!(!busy.contains("chart-empty"), "{busy}");
        assert!(busy.contains("chart-range"), "{busy}");
    }

    #[test]
    fn one_bar_per_hour_with_traffic_and_none_outside_the_window() {
        let now = datetime!(2026-12-01 06:40 UTC);
        let times = [
            datetime!(2026-12-01 06:05 UTC),
            datetime!(2026-12-01 06:39 UTC),
            datetime!(2026-11-30 07:00 UTC),
            datetime!(2026-11-30 06:59 UTC), // before the window
            datetime!(2026-12-01 03:30 UTC),
        ];
        let html = chart(now, &times).into_string();
        assert_eq!(html.matches("class=\"bar\"").count(), 3, "{html}");
        assert!(html.contains("data-hour=\"2026-12-01T06\""));
        assert!(html.contains("data-hour=\"2026-11-30T07\""));
        assert!(html.contains("data-hour=\"2026-12-01T03\""));
        assert!(!html.contains("2026-11-30T06"));
    }

    #[test]
    fn no_traffic_no_bars() {
        let html = chart(datetime!(2026-12-01 06:40 UTC), &[]).into_string();
        assert!(html.contains("<svg"));
        assert_eq!(html.matches("class=\"bar\"").count(), 0);
    }
}
