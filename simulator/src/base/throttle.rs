//! A throttle on attempts: `threshold` failures within `window_secs` lock for `lockout_secs`;
//! a success clears it. Primus throttles PKCS#11 logins and API logins this way (the model
//! chooses the rule, `crate::models::primus`); the counters are persisted with the role.
use crate::base::error::{Result, err};
use cryptoki_sys::CKR_PIN_LOCKED;
use serde::{Deserialize, Serialize};

/// The brute-force rule: `threshold` wrong PINs within `window_secs` lock privileged
/// (PKCS#11 login) access for `lockout_secs` (Primus §1.4: 100 / 300 s / 300 s, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub threshold: u32,
    pub window_secs: u64,
    pub lockout_secs: u64,
}

impl Default for ThrottleRule {
    fn default() -> Self {
        ThrottleRule {
            threshold: 100,
            window_secs: 300,
            lockout_secs: 300,
        }
    }
}

/// A role's throttle state, persisted with the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// Start of the current counting window (seconds since the epoch).
    pub window_start: u64,
    pub failures: u32,
    /// Locked until this time (seconds since the epoch), 0 when not locked.
    pub locked_until: u64,
}

impl Throttle {
    /// `CKR_PIN_LOCKED` while locked (with the seconds left).
    pub fn check(&self, now: u64) -> Result<()> {
        if now < self.locked_until {
            Err(err(
                CKR_PIN_LOCKED,
                format!(
                    "PKCS#11 login is locked for {} more seconds after too many wrong PINs",
                    self.locked_until - now
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// Records a login attempt; returns true when this failure locked the role.
    pub fn record(&mut self, rule: &ThrottleRule, now: u64, ok: bool) -> bool {
        if ok {
            *self = Throttle::default();
            return false;
        }
        if now >= self.locked_until && self.locked_until != 0 {
            *self = Throttle::default();
        }
        if self.failures == 0 || now.saturating_sub(self.window_start) >= rule.window_secs {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures >= rule.threshold {
            self.locked_until = now + rule.lockout_secs;
            self.failures = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_locks_after_the_threshold_within_the_window_then_unlocks() {
        let rule = ThrottleRule {
            threshold: 3,
            window_secs: 60,
            lockout_secs: 30,
        };
        let mut t = Throttle::default();
        assert!(!t.record(&rule, 1000, false));
        assert!(!t.record(&rule, 1010, false));
        // The window restarts after 60 s: the third failure at 1100 is the first of a new one.
        assert!(!t.record(&rule, 1100, false));
        assert!(!t.record(&rule, 1101, false));
        assert!(t.record(&rule, 1102, false), "third within the window");
        assert_eq!(t.check(1110).unwrap_err().rv, CKR_PIN_LOCKED);
        assert!(t.check(1132).is_ok(), "unlocked after 30 s");
        assert!(!t.record(&rule, 1133, true));
        assert_eq!(t, Throttle::default());
    }
}
