#!/usr/bin/env bash
# The Debian package as an admin gets it: built with cargo-deb, checked with
# lintian, unpacked with dpkg-deb -x into a temporary root, and the daemon run
# from that layout with the unit's flags, a drop-in SCL block in
# etc/sluice/scl.d and a snippet in etc/sluice/conf.d that uses it. The unit's
# hardening is rated by systemd-analyze. Run by tests/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked --quiet
if ! command -v lintian >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends lintian >/dev/null
fi

cargo deb --locked --quiet --strip
deb=$(ls -t "$target"/debian/sluice_*.deb | head -n 1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"

# lintian: no errors; warnings are shown.
lintian --fail-on error --tag-display-limit 0 "$deb"

root=$(mktemp -d)
daemon=""
cleanup() {
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$root"

fail() { echo "package check failed: $*" >&2; exit 1; }
bin="$root/usr/sbin/sluice"
file "$bin" | grep -q ", stripped" || fail "usr/sbin/sluice is not stripped"
size=$(stat -c %s "$bin")
[ "$size" -lt $((15 << 20)) ] || fail "usr/sbin/sluice is $size bytes"
# The build folder must not be on an installed daemon's include path.
! grep -qF "$PWD/scl" "$bin" || fail "the build folder $PWD/scl is baked into the binary"
for f in etc/sluice/sluice.conf etc/default/sluice etc/logrotate.d/sluice var/lib/sluice/README \
         usr/lib/sysusers.d/sluice.conf usr/lib/systemd/system/sluice.service \
         usr/share/sluice/scl/scl.conf usr/share/man/man8/sluice.8.gz; do
    [ -e "$root/$f" ] || fail "$f is not in the package"
done

# A drop-in block and a snippet using it, as an admin would add them.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$root/etc/sluice/scl.d" "$root/etc/sluice/conf.d" "$root/var/lib/sluice" "$root/run/sluice"
cat > "$root/etc/sluice/scl.d/dropin.conf" <<CONF
block destination dropin(file("") ...) { file("\`file\`" template("\${PROGRAM}: \${MESSAGE}\\n") \`__VARARGS__\`); };
CONF
cat > "$root/etc/sluice/conf.d/test.conf" <<CONF
source s_test { network(ip("127.0.0.1") port($port)); };
destination d_test { dropin(file("$root/dropin.log") fsync(yes)); };
log { source(s_test); destination(d_test); };
CONF
flags=(--cfgfile "$root/etc/sluice/sluice.conf" --include-path "$root/etc/sluice/scl.d:$root/usr/share/sluice/scl"
       --define "logdir=$root/var/log/sluice" -c "$root/run/sluice/sluice.ctl" -p "$root/run/sluice/sluice.pid"
       --state-dir "$root/var/lib/sluice")
"$bin" --syntax-only "${flags[@]}" || fail "the packaged config does not validate"
(cd "$root/var/lib/sluice" && exec "$bin" --foreground "${flags[@]}" 2>"$root/stderr.log") &
daemon=$!
for _ in $(seq 100); do
    "$root/usr/bin/sluice-ctl" -c "$root/run/sluice/sluice.ctl" healthcheck >/dev/null 2>&1 && break
    sleep 0.1
done
logger --server 127.0.0.1 --port "$port" --tcp --octet-count -t pkgtest "from the installed layout"
for _ in $(seq 100); do
    grep -q "pkgtest: from the installed layout" "$root/dropin.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "pkgtest: from the installed layout" "$root/dropin.log" 2>/dev/null \
    || { cat "$root/stderr.log" >&2; fail "the drop-in destination wrote nothing"; }
"$root/usr/bin/sluice-ctl" -c "$root/run/sluice/sluice.ctl" stats | grep -q "destination.d_test#0.written 1" \
    || fail "sluice-ctl stats does not count the message"
kill -TERM "$daemon"
wait "$daemon" || fail "the daemon did not stop cleanly"
daemon=""
[ -d "$root/var/log/sluice" ] || fail "the default config wrote nothing under logdir"

# The unit's hardening, rated offline.
if command -v systemd-analyze >/dev/null 2>&1; then
    rating=$(systemd-analyze security --offline=true "$root/usr/lib/systemd/system/sluice.service" 2>/dev/null | tail -n 1)
    echo "unit: $rating"
    level=$(echo "$rating" | grep -oE '[0-9]+\.[0-9]+' | head -n 1)
    awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }' || fail "the unit's exposure is $level (want <= 3.0)"
fi
echo "package check: ok"
