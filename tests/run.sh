#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine: installs the real peers the
# integration tests talk to (util-linux `logger`, syslog-ng 3.38 itself and its
# `loggen`, openssl, iproute2's `ss`, Java 17, and in a venv of its own moto's
# S3 server with boto3, python-snappy, pyarrow, DuckDB and pyspark), checks
# formatting and lints, checks the Debian package (tests/package.sh, which
# installs cargo-deb and lintian), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v logger >/dev/null 2>&1 || need+=(bsdutils)
{ command -v loggen && command -v syslog-ng; } >/dev/null 2>&1 || need+=(syslog-ng-core)
command -v mkfifo >/dev/null 2>&1 || need+=(coreutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# Spark 4 runs on Java 17 or later.
java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || need+=(openjdk-17-jre-headless)
# Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing test peers: ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# moto's S3 server, the reference for S3 APIs the in-process server lacks,
# boto3, an independent reader of what sluice uploads, python-snappy, the
# reader Log Service's users open snappy objects with, and pyarrow, DuckDB
# and Spark, which users open Parquet objects with. A venv keeps them off the
# system; it is reused while its pins match, so a cached run costs a tenth of a
# second.
venv="$HOME/.cache/sluice/venv"
pins=("moto[server]==5.2.5" "boto3" "python-snappy==0.7.3" "pyarrow==26.0.1" "duckdb==2.0.1" "pyspark==4.0.1")
if ! { [ "$(cat "$venv/.sluice-pins" 2>/dev/null)" = "${pins[*]}" ] &&
    # Package metadata, not imports: importing moto's server takes a second.
    "$venv/bin/python" -c 'from importlib.metadata import version as v
v("boto3"), v("flask"), v("flask-cors"), v("moto"), v("python-snappy"), v("pyarrow"), v("duckdb"), v("pyspark")' >/dev/null 2>&1; }; then
    echo "installing python test peers into $venv: ${pins[*]}" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input "${pins[@]}"
    echo "${pins[*]}" >"$venv/.sluice-pins"
fi
# Read by tests/it/moto.rs.
export SLUICE_PYTHON="$venv/bin/python" SLUICE_MOTO="$venv/bin/moto_server"

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The Debian package, built, linted, unpacked and run from its own layout.
bash tests/package.sh
cargo test --locked
