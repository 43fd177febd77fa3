#!/usr/bin/env bash
# Every test of hsmsim, as CI runs it (the README's test command): formatting and lints, unit
# and C-ABI tests, the CLI self-test on a fresh default lab, real external PKCS#11 clients
# (rust cryptoki, python-pkcs11, pkcs11-tool) against the release module, a lab's Network HSM
# served over a Unix socket with p11-kit remoting (pkcs11-tool and a conformance run through
# it), the conformance suite
# (sim to sim, and against SoftHSMv2 both ways), the throughput
# benchmark's ratio summary, the ML-DSA / ML-KEM ratio summary, the login-cost benchmark, the store-scale benchmark's summary
# against SoftHSMv2, the Luna cloning, backup, restore and HA-sync benchmarks and the Primus
# partition backup and restore benchmark.
# Installs what it needs; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "build (release)"
cargo build --release --workspace

step "unit, C-ABI and property tests"
# p11-kit first: the remoting tests (cli/tests/remoting_cli.rs) must run here, not skip.
(. .ci/external/lib.sh && ensure_apt p11-kit p11-kit-modules)
HSMSIM_REQUIRE_P11_KIT=1 cargo test --workspace

step "the CCC web console in headless Chromium"
bash .ci/browser.sh

step "CLI self-test on a fresh default lab"
state=$(mktemp -d)
HSMSIM_STATE_DIR="$state" target/release/hsmsim selftest
rm -rf "$state"

step "external PKCS#11 clients against target/release/libhsmsim.so"
bash .ci/external/run-all.sh target/release/libhsmsim.so

step "the estate over the network: a lab's Network HSM served with p11-kit remoting"
bash .ci/remoting.sh target/release/hsmsim

step "conformance: documented procedures, sim to sim and against SoftHSMv2 both ways"
bash .ci/conformance.sh target/release/hsmsim

step "throughput ratios: RSA, ECDSA, ML-DSA-65, ML-KEM-768 (informative; goals in the README)"
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench sign
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench pqc

step "login cost at the default PIN KDF cost against the raw KDF (informative)"
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench login

step "store scale against SoftHSMv2 (informative; goals in the README)"
# softhsm2 is normally installed already by .ci/external/python-pkcs11.sh; make sure of it
# when that suite was left out (EXTERNAL_SUITES).
(. .ci/external/lib.sh && ensure_apt softhsm2)
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench store

step "Luna cloning, backup, restore and HA synchronisation of 10,000 objects (informative; goals in the README)"
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench cloning
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench backup
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench ha

step "Primus partition backup and restore of 10,000 objects (informative; goals in the README)"
HSMSIM_BENCH_QUICK=1 cargo bench -p hsmsim-benches --bench primus_backup

printf '\nall tests passed\n'
