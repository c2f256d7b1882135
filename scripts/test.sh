#!/usr/bin/env bash
# The whole test suite: system packages, formatting, lints, every test (unit, property, end-to-end
# on real OVS / ZooKeeper / Redis / dockerd), then a check that nothing was left behind.
# Run as root from the repository root:  bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

# Leftovers of an interrupted earlier run (a killed test cannot run its Drop) would confuse the
# final leak check: remove them first.
cargo run -q -p vlcp-e2e --bin lab-sweep -- --clean

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The .deb test packages release binaries: build them here, outside any test's time limit.
cargo build --release -p vlcp-plugin -p vlcp-cleanup -p vlcpctl --bins
cargo nextest run --workspace --profile ci --no-fail-fast
cargo nextest run -p vlcp-e2e --profile ci --test leak_check --run-ignored only
