//! The simulator's wall clock, in seconds since the epoch, for everything that expires or
//! waits (timed lockouts, Primus login throttles and setup passwords, activation outages).
//! `HSMSIM_CLOCK_OFFSET` (seconds, may be negative) moves it, so a rehearsal or a test can
//! see "ten minutes later" without waiting (simulator-defined).
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that shifts the clock.
pub const OFFSET_VARIABLE: &str = "HSMSIM_CLOCK_OFFSET";

/// Now, shifted by `HSMSIM_CLOCK_OFFSET` when it is set to a whole number of seconds.
pub fn now() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let offset = std::env::var(OFFSET_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    real.saturating_add_signed(offset)
}
