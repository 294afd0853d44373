#!/usr/bin/env bash
# What a scrape of bpfex costs, next to Debian's node_exporter on the same machine, in one command
# (root not needed once the packages are there):
#
#   bench/scrape/run.sh [SECONDS=5]
#
# bpfex's serving path is bench_scrape_serve (bench/scrape/serve.cpp: bpfex's Snapshot and
# HttpServer over synthetic families of 1k, 10k and 100k text series, republished every second as
# the poller does); node_exporter serves whatever this machine has (its series count is printed).
# Each server is pinned to CPU 0, wrk to CPU 1. For 1, 10 and 100 concurrent connections and three
# ways of asking -- text without gzip, text with gzip (every Prometheus), protobuf with gzip
# (Prometheus with native histograms) -- wrk runs SECONDS and reports requests/s and p50/p99
# latency; the server's CPU time (utime + stime from /proc) over the requests answered gives CPU
# per scrape. Bytes per scrape for each format and encoding are printed first. Results:
# bench/scrape/results/<time>.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-5}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts the packaged node_exporter as a service; this bench runs its own on another port.
"$root/scripts/build.sh"
mkdir -p "$root/bench/scrape/results"
out="$root/bench/scrape/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
port=$((20000 + RANDOM % 20000))
pid=""
stop_server() {
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
trap stop_server EXIT
PROTOBUF='application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# to_ms VALUE: wrk's "1.23ms", "456.00us", "1.01s" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

measure() {  # measure NAME SERIES: bytes, then wrk at each concurrency and request kind
  local name=$1 series=$2 c kind accept enc threads w rps p50 p99 reqs cpu0 cpu1
  local url="http://127.0.0.1:$port/metrics"
  for kind in text text_gzip protobuf protobuf_gzip; do
    accept='text/plain'; enc='identity'
    [[ $kind == protobuf* ]] && accept=$PROTOBUF
    [[ $kind == *gzip ]] && enc='gzip'
    echo "$name series=$series bytes $kind $(curl -fs -H "Accept: $accept" -H "Accept-Encoding: $enc" "$url" | wc -c)" | tee -a "$out"
  done
  for c in 1 10 100; do
    for kind in text text_gzip protobuf_gzip; do
      accept='text/plain'; enc='identity'
      [[ $kind == protobuf* ]] && accept=$PROTOBUF
      [[ $kind == *gzip ]] && enc='gzip'
      threads=2; ((c == 1)) && threads=1
      cpu0=$(cpu_ticks "$pid")
      w=$(taskset -c 1 wrk -t"$threads" -c"$c" -d"${seconds}s" --latency -H "Accept: $accept" -H "Accept-Encoding: $enc" "$url")
      cpu1=$(cpu_ticks "$pid")
      rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$w")
      reqs=$(awk '/requests in/ {print $1}' <<<"$w")
      p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$w")")
      p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$w")")
      echo "$name series=$series c=$c $kind rps=$rps p50_ms=$p50 p99_ms=$p99 cpu_ms_per_scrape=$(awk -v t=$((cpu1 - cpu0)) -v k="$ticks" -v n="$reqs" 'BEGIN { printf "%.3f", n ? t * 1000 / k / n : 0 }') non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$w")" | tee -a "$out"
    done
  done
}

wait_ready() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fs "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "run.sh: server on $port did not answer" >&2
  exit 1
}

taskset -c 0 prometheus-node-exporter --web.listen-address="127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
wait_ready
measure node_exporter "$(curl -fs "http://127.0.0.1:$port/metrics" | grep -vc '^#')"
stop_server

for series in 1000 10000 100000; do
  taskset -c 0 "$root/build/bench_scrape_serve" "$series" "$port" >/dev/null &
  pid=$!
  wait_ready
  sleep 1
  measure bpfex "$(curl -fs "http://127.0.0.1:$port/metrics" | grep -vc '^#')"
  stop_server
done
echo "results: $out"
