#!/usr/bin/env bash
# The CCC web console driven in a real headless browser (ccc-web/tests/browser.rs): installs
# Debian's Chromium and ChromeDriver, starts ChromeDriver on a free loopback port, runs the
# ignored browser test against it and stops ChromeDriver. A failing step leaves a screenshot
# and the page source in target/ccc-browser-artifacts/ (printed on failure).
# Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .ci/external/lib.sh

ensure_apt chromium chromium-driver

artifacts="$REPO_ROOT/target/ccc-browser-artifacts"
rm -rf "$artifacts"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
driver_log="$LOG_DIR/chromedriver.log"
# In a process group of its own (setsid): stopping the group also stops any Chromium it started.
setsid chromedriver --port="$port" --log-path="$driver_log" >/dev/null 2>&1 &
driver=$!
trap 'kill -- "-$driver" 2>/dev/null || true; wait "$driver" 2>/dev/null || true' EXIT

# Wait (10 s at most) until ChromeDriver listens.
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$driver" 2>/dev/null || die "chromedriver exited at start (log: $driver_log)"
    sleep 0.1
done
say "chromedriver $(chromedriver --version | cut -d' ' -f2) on 127.0.0.1:$port"

if ! HSMSIM_WEBDRIVER_URL="http://127.0.0.1:$port" HSMSIM_PIN_KDF_ITERATIONS=10000 \
    cargo test -p hsmsim-ccc-web --test browser -- --ignored --test-threads=1; then
    say "browser test failed: screenshots and page sources in $artifacts (chromedriver log: $driver_log)"
    exit 1
fi
