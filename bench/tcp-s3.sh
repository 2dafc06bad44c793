#!/usr/bin/env bash
# tcp-s3.sh -- TCP syslog into s3() on a local s3s-fs server (SigV4 checked), and in
# the same run boto3's upload_file of the same bytes to the same server.
#
# Usage: bash bench/tcp-s3.sh
# Environment:
#   REPLAY_MSGS   messages per run (2000000: ~300 MiB of object bytes)
#   BENCH_SIZE    bytes per RFC 3164 line, newline included (200)
#   BENCH_RUNS    runs per receiver, interleaved; medians are reported (3)
#   OBJECT_SIZE   max-object-size() of the s3() destination (100MiB)
#   SLUICE        the sluice binary; S3_SERVER the s3-server example (both built
#                 with cargo --release when unset)
#   BENCH_THROTTLED=0  skip the throttled run; THROTTLE_RATE (1000000 bytes/s),
#                 THROTTLE_HOLD (seconds watched after the sender is done, 90)
#   BENCH_KEEP=1  keep the scratch directory
#   BENCH_FORMATS labels run besides boto3 ("plain gzip"); also "parquet"
#                 (format(parquet) with five typed columns, snappy inside) and
#                 "json-snappy" (format(json) compression("snappy")), read back
#                 with pyarrow and python-snappy to count the messages
#
# A run: a fresh s3-server (examples/s3-server.rs) with an empty bucket, a fresh
# sluice -F with a network() TCP source, flags(flow-control), into s3() with
# template("${MESSAGE}\n"), compression off ("plain") or gzip. One socat pushes the
# replay file (kept in the page cache) over one connection. Its last line is a
# sentinel dated a day later: object-key-timestamp("${S_DAY}") makes it complete
# the open object at once (no flush-grace-period wait), and its own object stays
# open. The run ends when the spool holds nothing but the sentinel's object; the
# clock runs from the first byte sent to the last object's mtime in the bucket.
# Reported: msg/s, MiB/s of message bytes (raw) and of bytes in the bucket, sluice
# CPU ms per raw MiB (utime+stime), peak RSS (VmHWM), and boto3's upload_file
# (default TransferConfig, default client) of the plain run's object bytes, as one
# file, to the same kind of server.
# The throttled run puts a 1 MB/s proxy in front of the store, sends everything
# and watches sluice's RSS (spool on disk grows; memory must not).
# Every server binds 127.0.0.1 and is stopped by its PID.
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPLAY_MSGS=${REPLAY_MSGS:-2000000}
SIZE=${BENCH_SIZE:-200}
RUNS=${BENCH_RUNS:-3}
OBJECT_SIZE=${OBJECT_SIZE:-100MiB}
THROTTLE_RATE=${THROTTLE_RATE:-1000000}
THROTTLE_HOLD=${THROTTLE_HOLD:-90}
DRAIN_MAX=${BENCH_DRAIN_MAX:-600}
AK=AKIABENCHKEY
SK=bench-secret
CLK_TCK=$(getconf CLK_TCK)
VENV=$HOME/.cache/sluice/venv

for c in socat awk python3 ss; do
    command -v "$c" >/dev/null || { echo "tcp-s3.sh needs $c" >&2; exit 2; }
done

if [ -z "${SLUICE:-}" ] || [ -z "${S3_SERVER:-}" ]; then
    (cd "$REPO" && cargo build --release --quiet --bin sluice --example s3-server) || exit 1
    TARGET=${CARGO_TARGET_DIR:-$REPO/target}
    SLUICE=${SLUICE:-$TARGET/release/sluice}
    S3_SERVER=${S3_SERVER:-$TARGET/release/examples/s3-server}
fi

# boto3 in the venv tests/run.sh makes (the same pins, so it reuses this one).
if ! "$VENV/bin/python" -c 'import boto3' >/dev/null 2>&1; then
    echo "installing boto3 into $VENV" >&2
    pins=("moto[server]==5.2.5" "boto3")
    rm -rf "$VENV"
    python3 -m venv "$VENV" &&
        "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "${pins[@]}" &&
        echo "${pins[*]}" >"$VENV/.sluice-pins" || exit 1
fi
PY=$VENV/bin/python

T=$(mktemp -d -t tcp-s3.XXXXXX)
RESULTS=$T/results.tsv
SLUICE_PID='' S3_PID='' PROXY_PID=''
cleanup() {
    local p
    for p in "$SLUICE_PID" "$PROXY_PID" "$S3_PID"; do
        [ -n "$p" ] && stop "$p"
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
ticks() { # utime+stime of PID, in clock ticks
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    echo "$s" | awk '{ print $12 + $13 }'
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sys_busy() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6; exit }' /proc/stat; }
stop() { # stop a process this script started, by PID; KILL if TERM is not enough
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}
wait_quiet() { # other work skews a run: wait (up to 60 s) for < 10 % busy over 1 s
    local a b
    for _ in $(seq 1 60); do
        a=$(sys_busy); sleep 1; b=$(sys_busy)
        [ $(((b - a) * 100 / CLK_TCK / $(nproc))) -lt 10 ] && return 0
    done
    echo "machine still busy; measuring anyway" >&2
}
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_listen() { # wait_listen PORT PID
    for _ in $(seq 1 200); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        kill -0 "$2" 2>/dev/null || { echo "pid $2 died before listening on $1" >&2; return 1; }
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    return 1
}

# --- the replay file: REPLAY_MSGS lines of SIZE bytes, loggen's layout, then the sentinel ---
echo "making $REPLAY_MSGS lines of $SIZE bytes ..." >&2
awk -v n="$REPLAY_MSGS" -v size="$SIZE" 'BEGIN {
    pad = ""; for (i = 0; i < size; i++) pad = pad "PADD";
    for (i = 0; i < n; i++) {
        head = sprintf("<38>Nov 23 17:00:00 localhost prg00000[1234]: seq: %010d, thread: 0000, runid: 1700749200, stamp: 2023-11-23T17:00:00 ", i);
        print head substr(pad, 1, size - 1 - length(head));
    }
    print "<38>Nov 24 17:00:00 localhost prg00000[1234]: sentinel"
}' >"$T/replay"
cat "$T/replay" >/dev/null # into the page cache
HEAD_LEN=$(head -1 "$T/replay" | awk '{ print index($0, "]: ") + 2 }')
MSG_BYTES=$((REPLAY_MSGS * (SIZE - HEAD_LEN))) # ${MESSAGE}\n of every bench line
RAW_MIB=$(awk -v b="$MSG_BYTES" 'BEGIN { printf "%.1f", b / 1048576 }')

# --- servers ---
start_s3() { # fresh root with bucket "bench"; sets S3_PID and S3_PORT
    rm -rf "$T/root"; mkdir -p "$T/root/bench"
    : >"$T/s3.err"
    "$S3_SERVER" --root "$T/root" --port 0 --access-key "$AK" --secret-key "$SK" 2>>"$T/s3.err" &
    S3_PID=$!
    S3_PORT=
    for _ in $(seq 1 100); do
        S3_PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/s3.err")
        [ -n "$S3_PORT" ] && return 0
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "s3-server did not start: $(cat "$T/s3.err")" >&2
    return 1
}

# A proxy that lets RATE bytes/s through towards the store (all connections
# together) and answers unthrottled.
cat >"$T/throttle.py" <<'EOF'
import asyncio, sys
listen, target, rate, count = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
nxt, forwarded = 0.0, 0
async def pump(r, w, limit):
    global nxt, forwarded
    loop = asyncio.get_running_loop()
    try:
        while data := await r.read(16384):
            if limit:
                t = loop.time(); start = max(t, nxt); nxt = start + len(data) / rate
                if start > t:
                    await asyncio.sleep(start - t)
            w.write(data)
            await w.drain()
            if limit:
                forwarded += len(data)
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()
async def conn(cr, cw):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        cw.close(); return
    await asyncio.gather(pump(cr, sw, True), pump(sr, cw, False))
async def report():
    while True:
        await asyncio.sleep(0.5)
        with open(count, "w") as f:
            f.write(f"{forwarded}\n")
async def main():
    srv = await asyncio.start_server(conn, "127.0.0.1", listen)
    asyncio.create_task(report())
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
EOF

# The s3() options of a label.
dest_opts() {
    case $1 in
    plain) echo 'template("${MESSAGE}\n") compression("no")' ;;
    gzip) echo 'template("${MESSAGE}\n") compression("yes")' ;;
    parquet) echo "format(parquet) columns(\"HOST\", \"PROGRAM\", \"PID:int32\", \"__time__:int64\", \"MESSAGE\") compression(\"snappy\") parquet-row-group-size(${PARQUET_ROW_GROUP:-8MiB})" ;;
    json-snappy) echo 'format(json) json-options("--scope rfc3164") compression("snappy")' ;;
    esac
}

# Messages in the objects of a label.
count_lines() { # count_lines LABEL FILE...
    local label=$1; shift
    case $label in
    plain) cat "$@" | wc -l ;;
    gzip) cat "$@" | gzip -dc | wc -l ;;
    parquet) "$PY" -c 'import sys, pyarrow.parquet as pq
print(sum(pq.ParquetFile(f).metadata.num_rows for f in sys.argv[1:]))' "$@" ;;
    json-snappy) "$PY" -c 'import sys, snappy
print(sum(snappy.uncompress(open(f, "rb").read()).count(b"\n") for f in sys.argv[1:]))' "$@" ;;
    esac
}

start_sluice() { # start_sluice URL LABEL; sets SLUICE_PID and SPORT
    SPORT=$(free_port)
    rm -rf "$T/state"; mkdir -p "$T/state"
    cat >"$T/sluice.conf" <<EOF
@version: 1.0
@include "scl.conf"
source s { network(transport("tcp") ip("127.0.0.1") port($SPORT)); };
destination d { s3(url("$1") bucket("bench") access-key("$AK") secret-key("$SK")
    object-key("bench/\${HOST}-") object-key-timestamp("\${S_DAY}")
    max-object-size($OBJECT_SIZE) $(dest_opts "$2")); };
log { source(s); destination(d); flags(flow-control); };
EOF
    "$SLUICE" -F -f "$T/sluice.conf" --include-path "$REPO/scl" --state-dir "$T/state" \
        -c "$T/sluice.ctl" -p "$T/sluice.pid" 2>>"$T/sluice.err" &
    SLUICE_PID=$!
    wait_listen "$SPORT" "$SLUICE_PID"
}

# Done when the spool holds one manifest, the sentinel's (base ...24).
spool_done() {
    local metas
    metas=("$T"/state/spool/*/*.meta)
    [ ${#metas[@]} = 1 ] && [ -f "${metas[0]}" ] && grep -q '^base .*24$' "${metas[0]}"
}
bucket_objects() { find "$T/root/bench/bench" -type f 2>/dev/null | sort -V; }

# run_sluice LABEL RUN: one measurement, a row of results.tsv
run_sluice() {
    local label=$1 run=$2 comp=$1 t0 t1 c0 c1 s0 s1 b0 b1 hwm bytes lines objs ok=1 tl
    wait_quiet
    start_s3 || return 1
    start_sluice "http://127.0.0.1:$S3_PORT" "$comp" || return 1
    sleep 0.3
    c0=$(ticks "$SLUICE_PID"); s0=$(ticks "$S3_PID"); b0=$(sys_busy)
    t0=$(now)
    socat -u -b 262144 "OPEN:$T/replay" "TCP:127.0.0.1:$SPORT"
    t1=$(now)
    until spool_done; do
        if awk -v a="$(now)" -v b="$t1" -v m="$DRAIN_MAX" 'BEGIN { exit !(a - b > m) }'; then
            echo "$label: not drained after ${DRAIN_MAX}s" >&2; ok=0; break
        fi
        sleep 0.05
    done
    c1=$(ticks "$SLUICE_PID"); s1=$(ticks "$S3_PID"); b1=$(sys_busy)
    tl=$(now)
    hwm=$(status_kb "$SLUICE_PID" VmHWM)
    stop "$SLUICE_PID"; SLUICE_PID=
    stop "$S3_PID"; S3_PID=
    # the bench objects only (the sentinel's object was still open)
    mapfile -t objs < <(bucket_objects | grep -v '/localhost-24')
    bytes=0; lines=0
    if [ ${#objs[@]} -gt 0 ]; then
        bytes=$(cat "${objs[@]}" | wc -c)
        tl=$(stat -c %.9Y "${objs[@]}" | sort -n | tail -1)
        lines=$(count_lines "$label" "${objs[@]}")
        if [ "$label" = plain ]; then
            [ "$bytes" = "$MSG_BYTES" ] || { echo "$label: $bytes bytes, not $MSG_BYTES" >&2; ok=0; }
            [ "$run" = 1 ] && [ ! -f "$T/boto3.src" ] && cat "${objs[@]}" >"$T/boto3.src"
        fi
    fi
    if [ "$lines" != "$REPLAY_MSGS" ]; then
        echo "$label run $run: $lines of $REPLAY_MSGS lines in ${#objs[@]} objects" >&2; ok=0
    fi
    [ "$ok" = 1 ] || return 1
    awk -v l="$label" -v r="$run" -v n="$REPLAY_MSGS" -v raw="$MSG_BYTES" -v b="$bytes" \
        -v o="${#objs[@]}" -v t0="$t0" -v t1="$t1" -v tl="$tl" -v c="$((c1 - c0))" \
        -v s="$((s1 - s0))" -v busy="$((b1 - b0))" -v hz="$CLK_TCK" -v hwm="$hwm" 'BEGIN {
        d = tl - t0; mib = raw / 1048576;
        other = (busy - c - s) / hz / d * 100; if (other < 0) other = 0;
        printf "%s\t%d\t%.0f\t%.1f\t%.1f\t%.2f\t%.1f\t%.0f\t%d\t%d\t%.2f\t%.0f\n", l, r, n / d,
            mib / d, b / 1048576 / d, c / hz / mib * 1000, s / hz / mib * 1000, c / hz / d * 100,
            hwm, o, tl - t1, other }' | tee -a "$RESULTS"
}

cat >"$T/boto3_upload.py" <<'EOF'
import os, resource, sys, time
import boto3
path, url, ak, sk = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ak,
                  aws_secret_access_key=sk, region_name="us-east-1")
t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
s3.upload_file(path, "bench", "boto3/object.log")
t1, r1 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print(t1 - t0, cpu, os.path.getsize(path), r1.ru_maxrss, r1.ru_utime + r1.ru_stime)
EOF

run_boto3() { # run_boto3 RUN
    local run=$1 out s0 s1 b0 b1 w0 w1 landed
    wait_quiet
    start_s3 || return 1
    s0=$(ticks "$S3_PID"); b0=$(sys_busy); w0=$(now)
    out=$("$PY" "$T/boto3_upload.py" "$T/boto3.src" "http://127.0.0.1:$S3_PORT" "$AK" "$SK") || {
        stop "$S3_PID"; S3_PID=; return 1; }
    s1=$(ticks "$S3_PID"); b1=$(sys_busy); w1=$(now)
    landed=$(stat -c %s "$T/root/bench/boto3/object.log" 2>/dev/null || echo 0)
    stop "$S3_PID"; S3_PID=
    [ "$landed" = "$(stat -c %s "$T/boto3.src")" ] || { echo "boto3: object incomplete" >&2; return 1; }
    # CPU per MiB is upload_file's own (from inside python, threads included)
    echo "$out" | awk -v r="$run" -v s="$((s1 - s0))" -v busy="$((b1 - b0))" -v hz="$CLK_TCK" \
        -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" '{
        d = $1; mib = $3 / 1048576;
        other = ((busy - s) / hz - $5) / w * 100; if (other < 0) other = 0;
        printf "boto3\t%d\t-\t%.1f\t%.1f\t%.2f\t%.1f\t%.0f\t%d\t1\t-\t%.0f\n", r, mib / d, mib / d,
            $2 / mib * 1000, s / hz / mib * 1000, $2 / d * 100, $4, other }' | tee -a "$RESULTS"
}

# The store behind a 1 MB/s proxy: send everything, watch RSS for THROTTLE_HOLD s more.
run_throttled() {
    local pport t1 rss peak=0 spool forwarded parts hwm retries
    wait_quiet
    start_s3 || return 1
    pport=$(free_port)
    "$PY" "$T/throttle.py" "$pport" "$S3_PORT" "$THROTTLE_RATE" "$T/forwarded" 2>>"$T/proxy.err" &
    PROXY_PID=$!
    wait_listen "$pport" "$PROXY_PID" || return 1
    : >"$T/sluice.err"
    start_sluice "http://127.0.0.1:$pport" plain || return 1
    socat -u -b 262144 "OPEN:$T/replay" "TCP:127.0.0.1:$SPORT" &
    local sender=$! until_s
    until_s=$(awk -v t="$(now)" 'BEGIN { printf "%.3f", t + 600 }')
    # while sending (flow control holds the sender only if the spool were full)
    while kill -0 "$sender" 2>/dev/null; do
        rss=$(status_kb "$SLUICE_PID" VmRSS); [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        awk -v a="$(now)" -v b="$until_s" 'BEGIN { exit !(a > b) }' && { stop "$sender"; break; }
        sleep 0.2
    done
    wait "$sender" 2>/dev/null
    t1=$(now)
    until awk -v a="$(now)" -v b="$t1" -v h="$THROTTLE_HOLD" 'BEGIN { exit !(a - b > h) }'; do
        rss=$(status_kb "$SLUICE_PID" VmRSS); [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        sleep 0.5
    done
    hwm=$(status_kb "$SLUICE_PID" VmHWM)
    spool=$(du -sk "$T/state/spool" | cut -f1)
    stop "$SLUICE_PID"; SLUICE_PID=
    stop "$PROXY_PID"; PROXY_PID=
    forwarded=$(cat "$T/forwarded" 2>/dev/null || echo 0)
    parts=$(find "$T/root" -type f \( -name '.upload_id-*' -o -path "$T/root/bench/*" \) -printf '%s\n' |
        awk '{ s += $1 } END { print s + 0 }')
    stop "$S3_PID"; S3_PID=
    retries=$(grep -c 'will retry' "$T/sluice.err")
    echo "throttled to $THROTTLE_RATE B/s: peak RSS $((hwm / 1024)) MiB (VmHWM; max sampled VmRSS" \
        "$((peak / 1024)) MiB) with $((spool / 1024)) MiB in the spool ${THROTTLE_HOLD}s after the" \
        "sender finished; $((forwarded / 1048576)) MiB through the proxy, $((parts / 1048576)) MiB" \
        "of finished parts and objects in the store; $retries 'will retry' lines in sluice's log"
    THROTTLED_RSS=$((hwm / 1024))
}

echo "tcp-s3: $(nproc) cores; $REPLAY_MSGS lines of $SIZE B ($RAW_MIB MiB of messages);" \
    "max-object-size($OBJECT_SIZE); $RUNS runs" >&2
printf 'label\trun\tmsg_s\traw_MiB_s\tbucket_MiB_s\tcpu_ms_per_MiB\tsrv_cpu_ms_per_MiB\tcpu_pct\tpeak_rss_kB\tobjects\tdrain_s\tother_pct\n' >"$RESULTS"
tail -1 "$RESULTS"
for i in $(seq 1 "$RUNS"); do
    for l in ${BENCH_FORMATS:-plain gzip}; do
        run_sluice "$l" "$i" || echo "$l run $i failed" >&2
    done
    [ -f "$T/boto3.src" ] && { run_boto3 "$i" || echo "boto3 run $i failed" >&2; }
done

med() { # med LABEL COLUMN
    awk -F'\t' -v k="$1" -v c="$2" 'NR > 1 && $1 == k { v[++n] = $c }
        END { if (!n) { print 0; exit }
              for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
              print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }' "$RESULTS"
}
maxcol() { awk -F'\t' -v k="$1" -v c="$2" 'NR > 1 && $1 == k && $c > m { m = $c } END { print m + 0 }' "$RESULTS"; }
echo
printf '%-6s %4s %10s %9s %12s %12s %14s %9s %8s\n' label runs msg/s raw_MiB/s bucket_MiB/s cpu_ms/MiB srv_cpu_ms/MiB cpu% peak_RSS
for l in plain gzip parquet json-snappy boto3; do
    n=$(awk -F'\t' -v k="$l" 'NR > 1 && $1 == k' "$RESULTS" | wc -l)
    [ "$n" -gt 0 ] || continue
    printf '%-6s %4d %10s %9s %12s %12s %14s %9s %5d MiB\n' "$l" "$n" "$(med "$l" 3)" "$(med "$l" 4)" \
        "$(med "$l" 5)" "$(med "$l" 6)" "$(med "$l" 7)" "$(med "$l" 8)" "$(($(maxcol "$l" 9) / 1024))"
done
THROTTLED_RSS=-
if [ "${BENCH_THROTTLED:-1}" != 0 ]; then
    echo
    run_throttled || echo "throttled run failed" >&2
fi
echo
awk -v p="$(med plain 5)" -v g="$(med gzip 5)" -v gr="$(med gzip 4)" -v b="$(med boto3 5)" \
    -v pm="$(med plain 3)" -v gm="$(med gzip 3)" -v pr="$(($(maxcol plain 9) / 1024))" \
    -v gz="$(($(maxcol gzip 9) / 1024))" -v tr="$THROTTLED_RSS" 'BEGIN {
    printf "tcp->s3: sluice plain %.0f msg/s %.1f MiB/s (%.2fx boto3 %.1f MiB/s), gzip %.0f msg/s %.1f MiB/s raw; peak RSS %d/%d MiB, throttled %s MiB\n",
        pm, p, (b > 0 ? p / b : 0), b, gm, gr, pr, gz, tr }'
