//! What the HA failover tests (`luna_ha_failover.rs`, `luna_ha_spread.rs`) share: the lab with
//! group "web-ha", and signing threads, each signing in a loop on its own session (a new
//! `C_SignInit` + `C_Sign` each time, RSA-2048 with SHA-256) until stopped, counting the
//! signatures and keeping every failure.
use crate::common::*;
use cryptoki_sys::*;
use hsmsim::base::ids::DeviceId;
use hsmsim::pkcs11::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

pub const CO: &str = "co-pin-0001";

/// The HA tests' lab (`tests/ha/lab.toml`: host "app", slots 0 sa-a/web1, 1 sa-b/web2, 2
/// sa-c/web3, 3 sa-d/other) with group "web-ha" (web1, web2) on slot 4.
pub fn lab_text() -> String {
    format!(
        "{}\n[[ha_group]]\nlabel = \"web-ha\"\nmembers = [\"sa-a/web1\", \"sa-b/web2\"]\nhosts = [\"app\"]\n",
        include_str!("lab.toml")
    )
}

/// The HA virtual slot of "web-ha".
pub const HA: CK_SLOT_ID = 4;

pub fn device(name: &str) -> DeviceId {
    DeviceId::new(name)
}

/// One signature: `C_SignInit` + `C_Sign`.
pub fn sign_once(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut m = mech(CKM_SHA256_RSA_PKCS);
    match init(C_SignInit, s, &mut m, key) {
        CKR_OK => produce(C_Sign, s, b"payment batch 42"),
        rv => Err(rv),
    }
}

/// Threads signing with `key`, one per session.
pub struct Signers {
    stop: Arc<AtomicBool>,
    signed: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<CK_RV>>>,
}

impl Signers {
    pub fn start(sessions: &[CK_SESSION_HANDLE], key: CK_OBJECT_HANDLE) -> Signers {
        let stop = Arc::new(AtomicBool::new(false));
        let signed = Arc::new(AtomicUsize::new(0));
        let threads = sessions
            .iter()
            .map(|&s| {
                let (stop, signed) = (stop.clone(), signed.clone());
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        match sign_once(s, key) {
                            Ok(sig) => {
                                assert_eq!(sig.len(), 256);
                                signed.fetch_add(1, Ordering::AcqRel);
                            }
                            Err(rv) => failures.push(rv),
                        }
                    }
                    failures
                })
            })
            .collect();
        Signers {
            stop,
            signed,
            threads,
        }
    }

    /// The signatures made so far.
    pub fn signed(&self) -> usize {
        self.signed.load(Ordering::Acquire)
    }

    /// Waits until `n` signatures were made (a minute at most).
    pub fn wait_for(&self, n: usize) {
        let start = std::time::Instant::now();
        while self.signed() < n {
            assert!(start.elapsed().as_secs() < 60, "the signer stalled");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Stops the threads: every failure they met.
    pub fn stop(self) -> Vec<CK_RV> {
        self.stop.store(true, Ordering::Release);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}
