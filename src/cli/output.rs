//! How client commands print: aligned tables and `key  value` blocks with
//! human times for people, the API's JSON as is (`--json`) for scripts.

use std::io::Write;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prints the API's answer as pretty JSON on stdout.
pub fn json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A table with a header row and columns padded to the widest cell; the
/// last column is not padded (no trailing spaces).
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, each ending with `\n`.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(width - cell.chars().count() + 2));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Prints `key  value` lines with the values aligned.
pub fn pairs(items: &[(&str, String)]) {
    let width = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in items {
        println!("{key:<width$}  {value}");
    }
}

/// A string field, or `-`.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Parses an RFC 3339 field.
fn parse(value: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value.as_str()?, &Rfc3339).ok()
}

/// `3 min ago`, `in 54 min`, `2 d ago`, `now`: how far `at` is from `now`.
pub fn relative_to(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (at - now).whole_seconds();
    if secs == 0 {
        return "now".into();
    }
    let n = secs.unsigned_abs();
    let amount = match n {
        0..=59 => format!("{n} s"),
        60..=3_599 => format!("{} min", n / 60),
        3_600..=172_799 => format!("{} h", n / 3_600),
        _ => format!("{} d", n / 86_400),
    };
    if secs >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A time field as `in 54 min` / `3 min ago`; `-` when absent.
pub fn ago(value: &Value) -> String {
    match parse(value) {
        Some(at) => relative_to(at, OffsetDateTime::now_utc()),
        None => text(value),
    }
}

/// A time field as `2025-01-31 10:03:04 UTC (3 min ago)`; `-` when absent.
pub fn when(value: &Value) -> String {
    match parse(value) {
        Some(at) => {
            let utc = at.to_offset(time::UtcOffset::UTC);
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            );
            let absolute = utc.format(&fmt).unwrap_or_else(|_| text(value));
            format!(
                "{absolute} ({})",
                relative_to(at, OffsetDateTime::now_utc())
            )
        }
        None => text(value),
    }
}

/// A JSON array of strings joined with `, ` (`-` when empty).
pub fn list(value: &Value) -> String {
    let items: Vec<&str> = value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn columns_are_aligned_without_trailing_spaces() {
        let mut t = Table::new(&["NAME", "STATE", "NOTE"]);
        t.row(vec!["acme".into(), "active".into(), String::new()]);
        t.row(vec![
            "a-much-longer-name".into(),
            "needs_reauth".into(),
            "x".into(),
        ]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME                STATE         NOTE");
        assert_eq!(lines[1], "acme                active");
        assert_eq!(lines[2], "a-much-longer-name  needs_reauth  x");
    }

    #[test]
    fn times_read_as_people_say_them() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            relative_to(now + Duration::seconds(3_300), now),
            "in 55 min"
        );
        assert_eq!(relative_to(now - Duration::seconds(5), now), "5 s ago");
        assert_eq!(relative_to(now - Duration::milliseconds(300), now), "now");
        assert_eq!(relative_to(now - Duration::hours(30), now), "30 h ago");
        assert_eq!(relative_to(now + Duration::days(30), now), "in 30 d");
        let v = Value::String("2025-01-31T10:03:04Z".into());
        assert!(
            when(&v).starts_with("2025-01-31 10:03:04 UTC ("),
            "{}",
            when(&v)
        );
        assert_eq!(when(&Value::Null), "-");
    }
}
