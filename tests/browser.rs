//! The browser tests: a real headless Chromium driven through
//! chromedriver's WebDriver HTTP API (`support/webdriver.rs`), against the
//! real binary and the fake Zoho.
//!
//! - `connect_flow`: the browser redirect flow (consent page, callback).
//! - `console`: the admin console under `/ui/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`), so the tests are ignored by default;
//! `make test-browser` installs both when missing and runs them. Paths can
//! be overridden with `CHROMIUM` and `CHROMEDRIVER`.

#[path = "api/helpers.rs"]
#[allow(
    dead_code,
    reason = "shared with the api test binary, which uses the rest"
)]
mod helpers;
#[path = "api/oauth_flow.rs"]
#[allow(
    dead_code,
    reason = "shared with the api test binary, which uses the rest"
)]
mod oauth_flow;
#[path = "support/webdriver.rs"]
#[allow(dead_code, reason = "a toolbox: not every test uses every tool")]
mod webdriver;

#[path = "browser/connect_flow.rs"]
mod connect_flow;
#[path = "browser/console.rs"]
mod console;
