#!/usr/bin/env bash
# tcp-file.sh -- TCP syslog into one file: messages/s and peak RSS of Sluice and,
# where it is installed, syslog-ng, on the same replayed workload.
#
# Usage: bash bench/tcp-file.sh [STREAMS...]      (default: 1 4)
# Environment:
#   MSGS   messages per run (default 2000000)     SIZE  bytes per line (default 200)
#   RUNS   runs per receiver (default 3; the median is reported)
#   SLUICE the sluice binary (default: build target/release/sluice with cargo)
#   FILTER a filter expression both receivers apply on the path, e.g.
#          FILTER='level(info..emerg) and program("^loadgen$")'
#   TLS=1  the same over TLS (RFC 5425) with a throw-away certificate; needs
#          openssl and socat (the sender)
#   KEEP=1 keep the scratch directory
# Both receivers get the same job: RFC 3164 over newline-framed TCP on 127.0.0.1,
# parsed, written by the same template into one file, flags(flow-control) so
# nothing is dropped. The sender is bash's /dev/tcp fed by cat from a file in the
# page cache, so the generator costs next to nothing. A run ends when the last
# line is in the file; peak RSS is the receiver's VmHWM at that moment.
set -euo pipefail
cd "$(dirname "$0")/.."

MSGS=${MSGS:-2000000}
SIZE=${SIZE:-200}
RUNS=${RUNS:-3}
PORT_SLUICE=15544
PORT_SNG=15545
STREAMS=("${@:-1}")
[ $# -gt 0 ] || STREAMS=(1 4)

if [ -z "${SLUICE:-}" ]; then
    cargo build --release --quiet --bin sluice
    SLUICE=${CARGO_TARGET_DIR:-target}/release/sluice
fi
SNG=$(command -v syslog-ng || true)

TMP=$(mktemp -d -t sluice-bench.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

# One replay file of MSGS lines of exactly SIZE bytes (newline included), and the
# same lines cut into four parts for the multi-stream runs.
awk -v n="$MSGS" -v size="$SIZE" 'BEGIN {
    pad = ""; for (i = 0; i < size; i++) pad = pad "x";
    for (i = 1; i <= n; i++) {
        head = sprintf("<38>Nov 23 17:00:00 bench-host loadgen[4242]: seq: %010d, ", i);
        print head substr(pad, 1, size - 1 - length(head));
    }
}' > "$TMP/all"
split -n l/4 -d -a 1 "$TMP/all" "$TMP/part."
cat "$TMP/all" "$TMP"/part.* > /dev/null

TEMPLATE='${ISODATE} ${HOST} ${MSGHDR}${MSG}\n'
TRANSPORT='transport("tcp")'
if [ "${TLS:-0}" = 1 ]; then
    openssl req -x509 -days 1 -subj /CN=localhost -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
    TRANSPORT="transport(\"tls\") tls(key-file(\"$TMP/key.pem\") cert-file(\"$TMP/cert.pem\") peer-verify(optional-untrusted))"
fi
FILTER_DEF= FILTER_REF=
if [ -n "${FILTER:-}" ]; then
    FILTER_DEF="filter f { $FILTER; };"
    FILTER_REF="filter(f);"
fi
cat > "$TMP/sluice.conf" <<CONF
@version: 1.0
source s { network($TRANSPORT ip("127.0.0.1") port($PORT_SLUICE) max-connections(16)); };
destination d { file("$TMP/out" template("$TEMPLATE")); };
$FILTER_DEF
log { source(s); $FILTER_REF destination(d); flags(flow-control); };
CONF
# syslog-ng tuned as in its own performance guide: a large window per source,
# bigger fetches and flushes, no DNS.
cat > "$TMP/syslog-ng.conf" <<CONF
@version: 3.38
options { use-dns(no); use-fqdn(no); keep-hostname(yes); chain-hostnames(no);
          stats-freq(0); log-fifo-size(100000); flush-lines(1000); };
source s { network($TRANSPORT ip("127.0.0.1") port($PORT_SNG) max-connections(16)
                   log-iw-size(100000) log-fetch-limit(1000)); };
destination d { file("$TMP/out" template("$TEMPLATE")); };
$FILTER_DEF
log { source(s); $FILTER_REF destination(d); flags(flow-control); };
CONF

wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

start_sluice() {
    rm -rf "$TMP/state" && mkdir -p "$TMP/state"
    "$SLUICE" -F -f "$TMP/sluice.conf" --state-dir "$TMP/state" \
        -c "$TMP/sluice.ctl" -p "$TMP/sluice.pid" 2>>"$TMP/sluice.err" &
    PID=$!
}
start_sng() {
    rm -f "$TMP/sng.persist" "$TMP/sng.ctl" "$TMP/sng.pid"
    "$SNG" -F -f "$TMP/syslog-ng.conf" -R "$TMP/sng.persist" -c "$TMP/sng.ctl" \
        -p "$TMP/sng.pid" 2>>"$TMP/sng.err" &
    PID=$!
}

# send FILE PORT: one connection's worth, plain or TLS.
send() {
    if [ "${TLS:-0}" = 1 ]; then
        socat -u -b 262144 "OPEN:$1" "OPENSSL:127.0.0.1:$2,verify=0"
    else
        cat "$1" > "/dev/tcp/127.0.0.1/$2"
    fi
}

# run NAME START PORT STREAMS -> prints "msg/s peak_rss_kib"
run() {
    local start=$2 port=$3 streams=$4 t0 t1 lines hwm
    rm -f "$TMP/out"
    "$start"
    wait_port "$port"
    # the probe connection above sent nothing; give the receiver a moment to close it
    sleep 0.2
    t0=$(now)
    if [ "$streams" = 1 ]; then
        send "$TMP/all" "$port"
    else
        local parts=("$TMP"/part.*) i
        for ((i = 0; i < streams; i++)); do
            send "${parts[i % ${#parts[@]}]}" "$port" &
        done
        wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
    fi
    local want=$MSGS
    [ "$streams" -gt 1 ] && want=$(cat $(for ((i = 0; i < streams; i++)); do
        echo "${parts[i % ${#parts[@]}]}"; done) | wc -l)
    for _ in $(seq 1 6000); do
        lines=$(wc -l < "$TMP/out" 2>/dev/null || echo 0)
        [ "$lines" -ge "$want" ] && break
        sleep 0.05
    done
    t1=$(now)
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    if [ "$lines" -ne "$want" ]; then
        echo "$1: $lines of $want lines arrived" >&2
        return 1
    fi
    awk -v n="$want" -v a="$t0" -v b="$t1" -v h="$hwm" 'BEGIN { printf "%d %d\n", n / (b - a), h }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "tcp-file: $(nproc) cores; $MSGS messages of $SIZE B; $RUNS runs; streams: ${STREAMS[*]}${FILTER:+; filter: $FILTER}${TLS:+; TLS}" >&2
for streams in "${STREAMS[@]}"; do
    : > "$TMP/sluice.res"; : > "$TMP/sng.res"
    for _ in $(seq 1 "$RUNS"); do
        run sluice start_sluice "$PORT_SLUICE" "$streams" >> "$TMP/sluice.res"
        [ -n "$SNG" ] && run syslog-ng start_sng "$PORT_SNG" "$streams" >> "$TMP/sng.res"
    done
    sl_rate=$(cut -d' ' -f1 "$TMP/sluice.res" | median)
    sl_rss=$(cut -d' ' -f2 "$TMP/sluice.res" | sort -n | tail -1)
    line="streams=$streams: sluice $sl_rate msg/s, peak RSS $((sl_rss / 1024)) MiB"
    if [ -n "$SNG" ]; then
        sng_rate=$(cut -d' ' -f1 "$TMP/sng.res" | median)
        sng_rss=$(cut -d' ' -f2 "$TMP/sng.res" | sort -n | tail -1)
        line="$line; syslog-ng $sng_rate msg/s, peak RSS $((sng_rss / 1024)) MiB"
        line="$line; ratio $(awk -v a="$sl_rate" -v b="$sng_rate" 'BEGIN { printf "%.2fx", a / b }')"
    else
        line="$line; syslog-ng not installed (apt-get install syslog-ng-core)"
    fi
    echo "$line"
done
