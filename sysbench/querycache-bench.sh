#!/usr/bin/env bash
# querycache-bench.sh: sysbench oltp_point_select through rwproxy without and with a query cache
# rule (docs/query-cache.md), interleaved, text and prepared protocol; prints QPS, p95 and the
# cache's hit rate per run (from the admin's stats_mysql_query_cache). docs/benchmarks.md,
# "Query cache", records its output.
#
# usage: sysbench/querycache-bench.sh
# environment:
#   SANDBOX_BASE_PORT  sandbox ports (default 3416); the sandbox is started and stopped here
#   SANDBOX_DIR        sandbox directory (default: a temporary one)
#   BENCH_BASE_PORT    rwproxy ports: BASE (no cache), BASE+1 admin, BASE+10 (cache), BASE+11 admin
#                      (default 3616)
#   BENCH_TIME         seconds per run (default 20)   BENCH_THREADS  threads (default 8)
#   BENCH_REPS         repetitions (default 2)        BENCH_TABLES / BENCH_ROWS  (4 / 10000)
#   BENCH_TTL_MS       the rule's cache_ttl (default 60000)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export SANDBOX_BASE_PORT=${SANDBOX_BASE_PORT:-3416}
WORK=$(mktemp -d /tmp/rwproxy-qcbench.XXXXXX)
export SANDBOX_DIR=${SANDBOX_DIR:-$WORK/sandbox}
BASE=${BENCH_BASE_PORT:-3616}
TIME=${BENCH_TIME:-20} THREADS=${BENCH_THREADS:-8} REPS=${BENCH_REPS:-2}
TABLES=${BENCH_TABLES:-4} ROWS=${BENCH_ROWS:-10000} TTL=${BENCH_TTL_MS:-60000}
P=$SANDBOX_BASE_PORT
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/sandbox down >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

echo "work dir $WORK; sandbox $P..$((P + 2)); rwproxy $BASE (no cache), $((BASE + 10)) (cache)"
go build -o "$WORK/rwproxy" ./cmd/rwproxy
scripts/sandbox up >"$WORK/sandbox.log" 2>&1
scripts/sandbox sql 1 "CREATE DATABASE IF NOT EXISTS sbtest"
SB=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app --mysql-db=sbtest
  --tables="$TABLES" --table-size="$ROWS")
sysbench oltp_point_select "${SB[@]}" --mysql-port="$P" prepare >"$WORK/prepare.log"
scripts/sandbox sync

# config NAME PORT RULES: an rwproxy in front of the sandbox (reads to the replicas).
config() {
  cat >"$WORK/$1.yaml" <<EOF
listen: 127.0.0.1:$2
server_version: 10.11.0-rwproxy
max_connections: 5000
limits: { login_rate: 0, login_burst: 0 }
log: { level: warn, format: json }
admin: { listen: 127.0.0.1:$(($2 + 1)), username: admin, password: admin, datadir: $WORK/$1-data }
http: { listen: "" }
monitor: { username: monitor, password: monitor, interval: 1s }
query_cache_size_mb: 256
users:
  - { username: app, password: app, default_hostgroup: 10 }
servers:
  - { hostgroup: 10, host: 127.0.0.1, port: $P }
  - { hostgroup: 20, host: 127.0.0.1, port: $((P + 1)) }
  - { hostgroup: 20, host: 127.0.0.1, port: $((P + 2)) }
replication_hostgroups:
  - { writer_hostgroup: 10, reader_hostgroup: 20, check_type: read_only }
query_rules: $3
EOF
  "$WORK/rwproxy" --config "$WORK/$1.yaml" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
}
config nocache "$BASE" "[]"
config cache $((BASE + 10)) "[{ rule_id: 1, match_pattern: '^SELECT c FROM sbtest[0-9]+ WHERE id=', cache_ttl: ${TTL}ms }]"
for port in "$BASE" $((BASE + 10)); do
  for _ in $(seq 100); do
    mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp -e 'SELECT 1' sbtest >/dev/null 2>&1 && break
    sleep 0.2
  done
done

# stat NAME: Query_Cache_count_GET_OK and Query_Cache_count_GET of the cache target.
stat() {
  mariadb --no-defaults -N -h127.0.0.1 -P$((BASE + 11)) -uadmin -padmin -e \
    "SELECT Variable_Value FROM stats.stats_mysql_query_cache WHERE Variable_Name='$1'"
}

printf '%-8s %-9s %-4s %10s %9s %9s\n' mode target rep qps p95_ms hit_rate
for mode in disable auto; do
  for rep in $(seq "$REPS"); do
    for target in nocache cache; do
      port=$BASE
      [ "$target" = cache ] && port=$((BASE + 10))
      hits0=0 gets0=0
      if [ "$target" = cache ]; then hits0=$(stat Query_Cache_count_GET_OK); gets0=$(stat Query_Cache_count_GET); fi
      out=$(sysbench oltp_point_select "${SB[@]}" --mysql-port="$port" --db-ps-mode="$mode" \
        --threads="$THREADS" --time="$TIME" --percentile=95 run)
      echo "$out" >"$WORK/run-$mode-$target-$rep.log"
      qps=$(echo "$out" | awk '/queries:/ {gsub(/[(]/, "", $3); print $3; exit}')
      p95=$(echo "$out" | awk '/95th percentile:/ {print $3; exit}')
      rate=-
      if [ "$target" = cache ]; then
        hits=$(($(stat Query_Cache_count_GET_OK) - hits0)) gets=$(($(stat Query_Cache_count_GET) - gets0))
        rate=$(awk -v h="$hits" -v g="$gets" 'BEGIN { if (g > 0) printf "%.1f%%", 100 * h / g; else print "-" }')
      fi
      printf '%-8s %-9s %-4s %10s %9s %9s\n' "$mode" "$target" "$rep" "$qps" "$p95" "$rate"
    done
  done
done
echo "query cache at the end:"
mariadb --no-defaults -h127.0.0.1 -P$((BASE + 11)) -uadmin -padmin -e "SELECT * FROM stats.stats_mysql_query_cache"
