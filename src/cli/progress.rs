//! Progress of long operations (backup, restore, audit export and verify)
//! on stderr, drawn only when stderr is a terminal: scripts and logs get
//! the final summary line and nothing else.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress line that disappears when done.
pub(super) struct Progress(ProgressBar);

impl Progress {
    fn new(bar: ProgressBar, template: &str, message: &str) -> Self {
        if std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        Self(bar)
    }

    /// Bytes transferred, out of `total` when known.
    pub(super) fn bytes(message: &str, total: Option<u64>) -> Self {
        match total {
            Some(len) => Self::new(
                ProgressBar::new(len),
                "{spinner} {msg} {bytes}/{total_bytes} ({bytes_per_sec}, {elapsed})",
                message,
            ),
            None => Self::new(
                ProgressBar::no_length(),
                "{spinner} {msg} {bytes} ({bytes_per_sec}, {elapsed})",
                message,
            ),
        }
    }

    /// Items (events) handled so far.
    pub(super) fn items(message: &str) -> Self {
        Self::new(
            ProgressBar::no_length(),
            "{spinner} {msg} {human_pos} ({elapsed})",
            message,
        )
    }

    /// Waiting for one long answer.
    pub(super) fn waiting(message: &str) -> Self {
        Self::new(
            ProgressBar::no_length(),
            "{spinner} {msg} ({elapsed})",
            message,
        )
    }

    /// Adds `n` to the count.
    pub(super) fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
