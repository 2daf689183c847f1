#!/usr/bin/env bash
# Runs every benchmark of the repository in a bounded time and writes bench/RESULTS.md (about 12 minutes on
# 2 cores). `bash bench/run.sh --smoke` runs each one briefly and writes nothing (CI runs that).
# Loopback only; needs nginx (Debian package) for the comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
project=bench/Dispatcher.Benchmarks
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
artifacts="$(mktemp -d)"
trap 'rm -rf "$artifacts"' EXIT

dotnet build "$project" -c Release -v quiet -nologo >/dev/null
run() { timeout 1200 dotnet run -c Release --no-build --project "$project" -- "$@"; }

if $smoke; then
  # Each step's output is kept and shown when it fails, with the step's name.
  step() {
    local name="$1" out="$artifacts/smoke.txt"
    shift
    if ! "$@" >"$out" 2>&1; then
      echo "bench smoke: '$name' failed:" >&2
      tail -40 "$out" >&2
      exit 1
    fi
  }
  step sim run sim
  step memory run memory
  step overhead run overhead 0.5
  # The hop's ratios to nginx and between the layouts, printed, not asserted: these machines are shared and noisy.
  grep -E '^- concurrency' "$artifacts/smoke.txt" | sed 's/^- /bench smoke: overhead at /'
  step waiting-memory run waiting-memory 1000
  step quality run quality 4
  step soak run soak 5
  grep -q "leaked leases: 0)" "$artifacts/smoke.txt" || { echo "bench smoke: the soak leaked:" >&2; tail -5 "$artifacts/smoke.txt" >&2; exit 1; }
  step failover run failover 1
  echo "bench smoke: every benchmark ran"
  exit 0
fi

sim=$(run sim)
memory=$(run memory)
overhead=$(run overhead 8)
waiting=$(run waiting-memory 0 10000)  # 100,000: embedded only so far, by hand (bench/RESULTS.md, 2026-12-02)
quality=$(run quality 60)
soak=$(run soak 60)
failover=$(run failover 5)
run --filter '*WaitList*' --job short --artifacts "$artifacts" >/dev/null
decisions=$(sed -n '/^| Method/,/^$/p' "$artifacts"/results/*WaitListBenchmarks-report-github.md | sed -e 's/\*\*//g' -e "s/&#39;/'/g")

cat > bench/RESULTS.md <<MD
# Benchmark results

Written by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d). Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB,
$(lscpu | sed -n 's/^Model name:\s*//p' | head -1), .NET $(dotnet --version), nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), $(uname -sr).
Everything runs on this one shared 2-core machine, load generator included: compare rows with each other, not
with other machines.

## Overhead: the same load against the replica alone, nginx and the Dispatcher

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- overhead 8\` (8 s per point after 1 s of
warm-up). Streamed chat completions of one token from emulated replicas that answer at once, so the figures are
the proxies' own cost: (a) one replica directly, (b) nginx (Debian) round-robin over two replicas with
\`proxy_buffering off\` and upstream keep-alive, (c) the Dispatcher over the same two (authentication, body
inspection, a lease from the model grain, YARP forwarding, usage metering, release), (d) the same Frontend with
its grains in a silo process (\`Dispatcher.Silo serve\` on a private PostgreSQL) as an Orleans client: each
lease and each release is a grain call across processes. Each is its own process. "Added" is over (a).

${overhead}

## Memory per waiting request

Over HTTP: command \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- waiting-memory 0 10000\`.
One replica holds one long request; the others wait in the dispatcher's queue over HTTP/2. Resident memory of each
process: the embedded default (one process), and a cluster (a Frontend in client mode and one silo process, where
each waiting request is also a pending grain call across processes). The figures include Kestrel's HTTP/2 streams,
request objects, Orleans' messages and buffers.

${waiting}

In the grain alone (the wait list and what a waiting call holds): \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- memory\`.

${memory}

## Failover: SIGKILL of the silo hosting the model

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- failover 5\`. Three silo processes and a
Frontend in client mode on PostgreSQL, two emulated replicas (4 leases each), eight streaming clients; five times,
the silo hosting the model (from \`GET /cluster\`) is killed with SIGKILL and a new silo joins before the next
kill. Time: from the kill to the response headers of the first request sent after it (the Frontend forwards only
after a grant). Membership tuned as shipped (probe 1 s, 2 missed probes, 1 vote). Then, five times, a second
Frontend holding all eight leases with long streams is killed with SIGKILL: the time until the model grain holds no
lease (holder expiry 10 s).

${failover}

## Scheduling quality through HTTP, against nginx under the same overload

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- quality 60\`.

${quality}

## Scheduling decisions

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- --filter '*WaitList*' --job short\`.
One decision = serve the front of the wait list, end its lease and queue that token's next request, with the
given number of waiting requests spread over 100 tokens of weights 1 to 10. The wait list keeps one heap entry
per waiting token, so a decision is O(log tokens); "-" under Allocated means no allocation.

${decisions}

## Scheduling quality (simulation on virtual time)

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- sim\`. A discrete-event simulation that
drives the production wait list and orders exactly as the model grain does. "FIFO" is first come, first served:
what vLLM does by itself, or a plain proxy in front of it.

${sim}

## Soak

Command: \`dotnet run -c Release --project bench/Dispatcher.Benchmarks -- soak 60\`. Loopback only, bounded time:
a real dispatcher in front of two emulated replicas (at most 8 leases each), 24 clients sending a mix of chat and
completions (streamed or not), embeddings, malformed and unknown-model requests, about one in ten aborted by
the client at a random moment, and the second replica killed and restarted half-way.

${soak}
MD
echo "wrote bench/RESULTS.md"
