//! Filtered, cursor-paged queries over the segment log. An indexed filter
//! (fingerprint, connection, actor, action: the most selective given)
//! skips every segment whose value set lacks it; the segments left are read
//! in windows of [`WINDOW`] events and every filter is checked on the
//! decoded events.

use super::engine::{value_key, LogError, SegmentLog};
use crate::audit::event::AuditRecord;
use crate::audit::query::{Order, Page, Query};

/// Events read per step.
const WINDOW: u64 = 512;

/// Runs `q` over events after `floor - 1` (the prune checkpoint).
pub fn run(log: &SegmentLog, floor: u64, q: &Query) -> Result<Page, LogError> {
    let Some(head) = log.head().map(|h| h.seq) else {
        return Ok(empty());
    };
    let (mut low, mut high) = (floor, head);
    match (q.order, q.after) {
        (Order::Asc, Some(a)) => low = low.max(a.saturating_add(1)),
        (Order::Desc, Some(0)) => return Ok(empty()),
        (Order::Desc, Some(a)) => high = high.min(a - 1),
        _ => {}
    }
    if low > high {
        return Ok(empty());
    }
    let value = q.index().map(|(field, v)| value_key(field, v));
    let mut views = log.segments(low, high, value);
    if q.order == Order::Desc {
        views.reverse();
    }
    let mut events = Vec::new();
    for view in &views {
        let (first, last) = (view.range.0.max(low), view.range.1.min(high));
        for (from, to) in Windows::new(first, last, q.order) {
            let mut page = SegmentLog::read(view, from, to, WINDOW as usize)?;
            if q.order == Order::Desc {
                page.reverse();
            }
            for record in page {
                let seq = record.seq;
                if q.matches(&record) {
                    events.push(record);
                    if events.len() == q.limit {
                        return Ok(Page {
                            events,
                            next: Some(seq.to_string()),
                        });
                    }
                }
            }
        }
    }
    Ok(Page { events, next: None })
}

fn empty() -> Page {
    Page {
        events: Vec::<AuditRecord>::new(),
        next: None,
    }
}

/// Seq windows covering `[first, last]` in the query's order.
struct Windows {
    next: Option<(u64, u64)>,
    first: u64,
    last: u64,
    order: Order,
}

impl Windows {
    fn new(first: u64, last: u64, order: Order) -> Self {
        let mut w = Self {
            next: None,
            first,
            last,
            order,
        };
        if first <= last {
            w.next = Some(w.window_from(match order {
                Order::Asc => first,
                Order::Desc => last,
            }));
        }
        w
    }

    fn window_from(&self, at: u64) -> (u64, u64) {
        match self.order {
            Order::Asc => (at, at.saturating_add(WINDOW - 1).min(self.last)),
            Order::Desc => (at.saturating_sub(WINDOW - 1).max(self.first), at),
        }
    }
}

impl Iterator for Windows {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let current = self.next?;
        self.next = match self.order {
            Order::Asc if current.1 < self.last => Some(self.window_from(current.1 + 1)),
            Order::Desc if current.0 > self.first => Some(self.window_from(current.0 - 1)),
            _ => None,
        };
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_once_in_either_order() {
        let asc: Vec<_> = Windows::new(3, 1100, Order::Asc).collect();
        assert_eq!(asc, vec![(3, 514), (515, 1026), (1027, 1100)]);
        let desc: Vec<_> = Windows::new(3, 1100, Order::Desc).collect();
        assert_eq!(desc, vec![(589, 1100), (77, 588), (3, 76)]);
        assert_eq!(Windows::new(5, 4, Order::Asc).count(), 0);
    }
}
