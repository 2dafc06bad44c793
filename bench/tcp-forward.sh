#!/usr/bin/env bash
# tcp-forward.sh -- TCP syslog in, forwarded out: messages/s, CPU and peak RSS of
# Sluice and syslog-ng 3.38 on the same replayed workload, and Sluice's TCP ->
# file rate in the same run for reference.
#
# Usage: bash bench/tcp-forward.sh [MODES...]
#        (default: syslog-tcp syslog-tls network-tcp splunk-hec)
#   syslog-tcp   syslog("127.0.0.1" transport("tcp")): RFC 5424, octet-counted
#   syslog-tls   the same over TLS (RFC 5425); the sink decrypts
#                (examples/tls-sink.rs, rustls, appending 256 KiB at a time
#                as the TCP sink does; TLS_SINK=socat for socat/OpenSSL, whose
#                16 KiB file writes cost more CPU than its decryption)
#   network-tcp  network("127.0.0.1" transport("tcp")): RFC 3164 lines
#   splunk-hec   splunk-hec-event() with its defaults (batches of 5000, 8
#                workers) to bench/http-sink.rs, which only counts events;
#                syslog-ng runs it only where its http module is installed
# Environment:
#   MSGS   messages per run (default 2000000)     SIZE  bytes per line (default 200)
#   RUNS   runs per forwarder (default 3; the median is reported)
#   SLUICE the sluice binary (default: build target/release/sluice with cargo)
#   TLS_SINK the tls-sink example (default: built with cargo), or socat
#   KEEP=1 keep the scratch directory
# One connection in (bash's /dev/tcp fed by cat from a file in the page cache),
# RFC 3164 parsed, flags(flow-control), one connection out to a socat sink that
# appends to a file. A run ends when the sink's file has stopped growing; the
# rate is messages over the time from the first byte sent to the sink file's
# last write, and every message must be there. CPU is the forwarder's user +
# system time per million messages; RSS its VmHWM. The sink's CPU (socat
# appending, tls-sink decrypting and appending, or http-sink reading) is
# shown beside Sluice's:
# on a small machine it shares the cores, which the TCP -> file reference
# has to itself.
set -euo pipefail
cd "$(dirname "$0")/.."

MSGS=${MSGS:-2000000}
SIZE=${SIZE:-200}
RUNS=${RUNS:-3}
PORT_IN=15554
PORT_SINK=15555
MODES=("${@:-}")
[ $# -gt 0 ] || MODES=(syslog-tcp syslog-tls network-tcp splunk-hec)

for tool in socat openssl syslog-ng; do
    command -v "$tool" >/dev/null || { echo "tcp-forward: needs $tool" >&2; exit 1; }
done
if [ -z "${SLUICE:-}" ]; then
    cargo build --release --quiet --bin sluice
    SLUICE=${CARGO_TARGET_DIR:-target}/release/sluice
fi
if [ -z "${TLS_SINK:-}" ]; then
    cargo build --release --quiet --example tls-sink
    TLS_SINK=${CARGO_TARGET_DIR:-target}/release/examples/tls-sink
fi

TMP=$(mktemp -d -t sluice-forward.XXXXXX)
PID= SINK=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "$SINK" ] && kill "$SINK" 2>/dev/null && wait "$SINK" 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }

awk -v n="$MSGS" -v size="$SIZE" 'BEGIN {
    pad = ""; for (i = 0; i < size; i++) pad = pad "x";
    for (i = 1; i <= n; i++) {
        head = sprintf("<38>Nov 23 17:00:00 bench-host loadgen[4242]: seq: %010d, ", i);
        print head substr(pad, 1, size - 1 - length(head));
    }
}' > "$TMP/all"
cat "$TMP/all" > /dev/null
openssl req -x509 -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

# dest MODE: the destination both forwarders are given.
dest() {
    case $1 in
        syslog-tcp) echo "syslog(\"127.0.0.1\" transport(\"tcp\") port($PORT_SINK))" ;;
        syslog-tls) echo "syslog(\"127.0.0.1\" transport(\"tls\") port($PORT_SINK) tls(ca-file(\"$TMP/cert.pem\")))" ;;
        network-tcp) echo "network(\"127.0.0.1\" transport(\"tcp\") port($PORT_SINK))" ;;
        file) echo "file(\"$TMP/sink\" template(\"\${ISODATE} \${HOST} \${MSGHDR}\${MSG}\\n\"))" ;;
        splunk-hec) echo "splunk-hec-event(url(\"http://127.0.0.1:$PORT_SINK\") token(\"bench\"))" ;;
        *) echo "unknown mode $1" >&2; exit 2 ;;
    esac
}

configure() {
    local d
    d=$(dest "$1")
    cat > "$TMP/sluice.conf" <<CONF
@version: 1.0
@include "scl.conf"
options { keep-hostname(yes); };
source s { network(transport("tcp") ip("127.0.0.1") port($PORT_IN)); };
destination d { $d; };
log { source(s); destination(d); flags(flow-control); };
CONF
    cat > "$TMP/syslog-ng.conf" <<CONF
@version: 3.38
options { use-dns(no); use-fqdn(no); keep-hostname(yes); chain-hostnames(no);
          stats-freq(0); log-fifo-size(100000); flush-lines(1000); };
source s { network(transport("tcp") ip("127.0.0.1") port($PORT_IN)
                   log-iw-size(100000) log-fetch-limit(1000)); };
destination d { $d; };
log { source(s); destination(d); flags(flow-control); };
CONF
}

wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

start_sink() {
    rm -f "$TMP/sink" "$TMP/count"
    [ "$1" = file ] && return 0
    if [ "$1" = splunk-hec ]; then
        [ -x "$TMP/http-sink" ] || rustc -O bench/http-sink.rs -o "$TMP/http-sink"
        "$TMP/http-sink" "127.0.0.1:$PORT_SINK" "$TMP/count" &
        SINK=$!
        wait_port "$PORT_SINK"
        return 0
    fi
    if [ "$1" = syslog-tls ] && [ "$TLS_SINK" != socat ]; then
        "$TLS_SINK" --port "$PORT_SINK" --cert "$TMP/cert.pem" --key "$TMP/key.pem" --out "$TMP/sink" &
    elif [ "$1" = syslog-tls ]; then
        socat -u -b 262144 "OPENSSL-LISTEN:$PORT_SINK,bind=127.0.0.1,reuseaddr,fork,cert=$TMP/cert.pem,key=$TMP/key.pem,verify=0" \
            "OPEN:$TMP/sink,creat,append" &
    else
        socat -u -b 262144 "TCP-LISTEN:$PORT_SINK,bind=127.0.0.1,reuseaddr,fork" "OPEN:$TMP/sink,creat,append" &
    fi
    SINK=$!
    wait_port "$PORT_SINK"
}

start_sluice() {
    rm -rf "$TMP/state" && mkdir -p "$TMP/state"
    "$SLUICE" -F -f "$TMP/sluice.conf" --state-dir "$TMP/state" --include-path "$PWD/scl" \
        -c "$TMP/sluice.ctl" -p "$TMP/sluice.pid" 2>>"$TMP/sluice.err" &
    PID=$!
}
start_sng() {
    rm -f "$TMP/sng.persist" "$TMP/sng.ctl" "$TMP/sng.pid"
    syslog-ng -F --no-caps -f "$TMP/syslog-ng.conf" -R "$TMP/sng.persist" -c "$TMP/sng.ctl" \
        -p "$TMP/sng.pid" 2>>"$TMP/sng.err" &
    PID=$!
}

cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
# The sink's CPU, its own and its connection children's once they are reaped
# (socat forks one per connection; it ends when the forwarder is gone).
sink_secs() {
    [ -n "$SINK" ] || { echo 0; return; }
    sleep 0.3
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / t }' "/proc/$SINK/stat" 2>/dev/null || echo 0
}

# run MODE START -> prints "msg/s cpu_s_per_M peak_rss_kib"
run() {
    local mode=$1 start=$2 t0 t1 size prev lines hwm cpu scpu
    start_sink "$mode"
    "$start"
    wait_port "$PORT_IN"
    # the probes of wait_port sent nothing; let both ends settle
    sleep 0.3
    t0=$(now)
    cat "$TMP/all" > "/dev/tcp/127.0.0.1/$PORT_IN"
    if [ "$mode" = splunk-hec ]; then
        # the sink counts events; done when all are counted (or nothing moves for a minute)
        local n=0 last=0 still=0
        while [ "$n" -lt "$MSGS" ] && [ "$still" -lt 1200 ]; do
            sleep 0.05
            n=$(cat "$TMP/count" 2>/dev/null || echo 0)
            if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
        done
        t1=$(now)
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
        cpu=$(cpu_secs "$PID")
        kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
        scpu=$(sink_secs)
        kill "$SINK" 2>/dev/null; wait "$SINK" 2>/dev/null || true; SINK=
        if [ "$n" -lt "$MSGS" ]; then
            echo "$mode ($start): $n of $MSGS events arrived" >&2
            return 1
        fi
        awk -v n="$MSGS" -v a="$t0" -v b="$t1" -v c="$cpu" -v h="$hwm" -v s="$scpu" \
            'BEGIN { printf "%d %.2f %d %.2f\n", n / (b - a), c * 1e6 / n, h, s * 1e6 / n }'
        return 0
    fi
    # done when the sink stops growing (or never starts, within a minute)
    prev=-1
    for i in $(seq 1 3000); do
        size=$(stat -c %s "$TMP/sink" 2>/dev/null || echo 0)
        [ "$size" -gt 0 ] && [ "$size" = "$prev" ] && break
        [ "$size" = 0 ] && [ "$i" -gt 60 ] && break
        prev=$size
        sleep 1
    done
    [ -e "$TMP/sink" ] || : > "$TMP/sink"
    t1=$(stat -c %.9Y "$TMP/sink")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
    cpu=$(cpu_secs "$PID")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    scpu=$(sink_secs)
    if [ -n "$SINK" ]; then kill "$SINK" 2>/dev/null; wait "$SINK" 2>/dev/null || true; SINK=; fi
    lines=$(wc -l < "$TMP/sink")
    if [ "$lines" -ne "$MSGS" ]; then
        # at-least-once: a duplicate is reported, a loss fails the run
        local unique
        unique=$(grep -ao 'seq: [0-9]*' "$TMP/sink" | sort -u | wc -l)
        echo "$mode ($start): $lines lines for $MSGS messages, $unique of them distinct" >&2
        cp "$TMP/sluice.err" "$TMP/../forward-$mode-$$.err" 2>/dev/null || true
        [ "$unique" -eq "$MSGS" ] || return 1
    fi
    awk -v n="$MSGS" -v a="$t0" -v b="$t1" -v c="$cpu" -v h="$hwm" -v s="$scpu" \
        'BEGIN { printf "%d %.2f %d %.2f\n", n / (b - a), c * 1e6 / n, h, s * 1e6 / n }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { cut -d' ' -f"$2" "$1" | median; }

echo "tcp-forward: $(nproc) cores; $MSGS messages of $SIZE B; $RUNS runs; modes: ${MODES[*]}" >&2
configure file
: > "$TMP/file.res"
for _ in $(seq 1 "$RUNS"); do run file start_sluice >> "$TMP/file.res"; done
file_rate=$(col "$TMP/file.res" 1)
echo "reference tcp->file: sluice $file_rate msg/s ($(col "$TMP/file.res" 2) CPU-s/M msgs)"
for mode in "${MODES[@]}"; do
    configure "$mode"
    : > "$TMP/sluice.res"; : > "$TMP/sng.res"
    sng=1
    if [ "$mode" = splunk-hec ] && ! ls /usr/lib/syslog-ng/*/libhttp.so >/dev/null 2>&1; then
        sng=0
    fi
    for _ in $(seq 1 "$RUNS"); do
        run "$mode" start_sluice >> "$TMP/sluice.res"
        [ "$sng" = 1 ] && run "$mode" start_sng >> "$TMP/sng.res"
    done
    if [ "$sng" = 0 ]; then
        printf '%s: sluice %s msg/s (%s CPU-s/M msgs, peak RSS %d MiB; the sink %s CPU-s/M); syslog-ng: its http module is not installed; %.2fx tcp->file\n' \
            "$mode" "$(col "$TMP/sluice.res" 1)" "$(col "$TMP/sluice.res" 2)" "$(( $(col "$TMP/sluice.res" 3) / 1024 ))" \
            "$(col "$TMP/sluice.res" 4)" \
            "$(awk -v a="$(col "$TMP/sluice.res" 1)" -v b="$file_rate" 'BEGIN { print a / b }')"
        continue
    fi
    sl=$(col "$TMP/sluice.res" 1) ng=$(col "$TMP/sng.res" 1)
    printf '%s: sluice %s msg/s (%s CPU-s/M msgs, peak RSS %d MiB; the sink %s CPU-s/M); syslog-ng %s msg/s (%s CPU-s/M, %d MiB); %.2fx syslog-ng, %.2fx tcp->file\n' \
        "$mode" "$sl" "$(col "$TMP/sluice.res" 2)" "$(( $(col "$TMP/sluice.res" 3) / 1024 ))" "$(col "$TMP/sluice.res" 4)" \
        "$ng" "$(col "$TMP/sng.res" 2)" "$(( $(col "$TMP/sng.res" 3) / 1024 ))" \
        "$(awk -v a="$sl" -v b="$ng" 'BEGIN { print a / b }')" \
        "$(awk -v a="$sl" -v b="$file_rate" 'BEGIN { print a / b }')"
done
