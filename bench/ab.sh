#!/usr/bin/env bash
# ab.sh -- two sluice binaries, before and after a change, on the same replayed
# stream, runs interleaved so the machine's drift hits both alike.
#
# Usage: A=path/to/old/sluice B=path/to/new/sluice bash bench/ab.sh
# Environment: N (messages, 3000000), RUNS (3), PORT (15599).
# One TCP connection (socat) of 200-byte RFC 3164 lines into one file(), flow
# control on; a run ends when the file holds every line. Prints msg/s per run.
set -u
: "${A:?A=old sluice binary}" "${B:?B=new sluice binary}"
N=${N:-3000000}
RUNS=${RUNS:-3}
PORT=${PORT:-15599}
command -v socat >/dev/null || { echo "needs socat (apt-get install socat)" >&2; exit 2; }
D=$(mktemp -d -t sluice-ab.XXXXXX)
trap 'rm -rf "$D"' EXIT
python3 - "$D/replay" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    for i in range(n):
        body = (b"<38>2026-11-23T14:07:17 localhost prg%05d[%d]: seq: %010d, thread: 0000, stamp: 2026-11-23T14:07:17 "
                % (i % 100, 1000 + i % 7, i))
        f.write(body + b"P" * (199 - len(body)) + b"\n")
PY
cat "$D/replay" >/dev/null # into the page cache
run() {
    rm -rf "$D/s"; mkdir -p "$D/s"
    cat > "$D/s/c.conf" <<CONF
source s { network(ip("127.0.0.1") port($PORT) transport("tcp")); };
destination d { file("$D/s/out.log"); };
log { source(s); destination(d); flags(flow-control); };
CONF
    "$1" -F -f "$D/s/c.conf" -c "$D/s/ctl" -p "$D/s/pid" --state-dir "$D/s/st" 2>"$D/s/err" &
    local pid=$!
    for _ in $(seq 100); do ss -ltn | grep -q ":$PORT " && break; sleep 0.05; done
    local start end
    start=$(date +%s.%N)
    socat -u -b 262144 "OPEN:$D/replay" "TCP:127.0.0.1:$PORT"
    until [ "$(wc -l < "$D/s/out.log" 2>/dev/null || echo 0)" -ge "$N" ]; do sleep 0.02; done
    end=$(date +%s.%N)
    kill "$pid"; wait "$pid" 2>/dev/null
    python3 -c "print(int($N / ($end - $start)))"
}
for r in $(seq "$RUNS"); do
    echo "run $r: A $(run "$A") msg/s  B $(run "$B") msg/s"
done
