#!/usr/bin/env bash
# Where one request's processor time and allocations go: starts two instant emulated replicas and the dispatcher
# (embedded layout) on loopback, loads it with 16 streaming clients, samples it with `perf record -g` and takes an
# EventPipe trace with allocation ticks (`dotnet-trace collect --profile gc-verbose`), then prints both by stage
# (bench/Dispatcher.Benchmarks/RequestProfile.cs). The dispatcher writes a perf map and maps its code without W^X, so
# perf can name .NET frames. Needs perf (Debian linux-perf) and dotnet-trace (`dotnet tool install -g dotnet-trace`).
# Not part of CI; the figures are in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$HOME/.dotnet/tools"
project=bench/Dispatcher.Benchmarks
bin=$project/bin/Release/net10.0
load=bench/LoadDriver/bin/Release/net10.0/Dispatcher.LoadDriver
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
dotnet build "$project" -c Release -v quiet -nologo >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }
instant=(--Emulator:ModelName bench-model --Emulator:StepBase 00:00:00 --Emulator:StepPerRunning 00:00:00 --Emulator:PrefillPerToken 00:00:00 --Emulator:MaxNumSeqs 100000)
replicas=()
for _ in 1 2; do
  p=$(port)
  "$bin/Dispatcher.VllmEmulator" --urls "http://127.0.0.1:$p" "${instant[@]}" >"$work/emulator-$p.log" 2>&1 &
  pids+=($!)
  replicas+=("http://127.0.0.1:$p")
  ready "http://127.0.0.1:$p/health"
done

token=bench-token-0000000000000001
p=$(port)
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 "$bin/Dispatcher.Frontend" --urls "http://127.0.0.1:$p" --Logging:LogLevel:Default=Warning \
  --Dispatcher:Cluster:SiloPort="$(port)" --Dispatcher:Cluster:GatewayPort="$(port)" \
  --Dispatcher:Models:0:Name=bench-model --Dispatcher:Models:0:Backends:0="${replicas[0]}" --Dispatcher:Models:0:Backends:1="${replicas[1]}" \
  --Dispatcher:Capacity:UseMetrics=false --Dispatcher:MaxConcurrentLeasesPerBackend=100000 \
  --Dispatcher:Tokens:0:Name=bench --Dispatcher:Tokens:0:Token=$token --Dispatcher:Tokens:0:Threshold=100000 >"$work/frontend.log" 2>&1 &
dispatcher=$!
pids+=($dispatcher)
ready "http://127.0.0.1:$p/health/ready"
run() { "$load" --url "http://127.0.0.1:$p" --token $token --model bench-model --concurrency 16 --seconds "$1" --max-tokens 1; }

run 30 >/dev/null # towards the steady state: tiered compilation still recompiles for a minute or so
run 10 >"$work/load.txt" &
loading=$!
sleep 2
perf record -F 499 -g -p "$dispatcher" -o "$work/perf.data" -- sleep 6 >/dev/null 2>&1
wait "$loading"
echo "Load while sampled: $(cat "$work/load.txt")"
perf script -i "$work/perf.data" >"$work/perf.txt" 2>/dev/null
dotnet run -c Release --no-build --project "$project" -- profile-processor "$work/perf.txt"
echo

run 8 >/dev/null &
loading=$!
sleep 2
dotnet-trace collect -p "$dispatcher" --profile gc-verbose -o "$work/alloc.nettrace" --duration 00:00:00:04 >/dev/null
wait "$loading"
dotnet run -c Release --no-build --project "$project" -- profile-allocations "$work/alloc.nettrace"
