#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs the real peers the
# integration tests talk to (util-linux `logger`, syslog-ng 3.38 itself and its
# `loggen`, openssl, iproute2's `ss`), checks formatting and lints, checks the
# Debian package (tests/package.sh, which installs cargo-deb and lintian), then
# runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v logger >/dev/null 2>&1 || need+=(bsdutils)
{ command -v loggen && command -v syslog-ng; } >/dev/null 2>&1 || need+=(syslog-ng-core)
command -v mkfifo >/dev/null 2>&1 || need+=(coreutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing test peers: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The Debian package, built, linted, unpacked and run from its own layout.
bash tests/package.sh
cargo test --locked
