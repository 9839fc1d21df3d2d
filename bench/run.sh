#!/usr/bin/env bash
# Benchmarks the MCP gateway against the same backend reached directly,
# through Caddy's reverse_proxy and through nginx proxy_pass (configured as
# the original system did, and tuned with upstream keepalive): proxied
# tools/call throughput and latency, interleaved in rounds, then the
# gateway memory per idle legacy SSE stream. Besides req/s it reports the
# CPU time the proxy process spent per request (from /proc), which stays
# meaningful on a shared machine where throughput figures are noisy.
#
# Usage: bench/run.sh
# Knobs (environment): ROUNDS=3 DURATION=5 (seconds per throughput run)
# CONNS=32 (wrk connections) LAT_DURATION=3 (seconds per c=1 latency run)
# STREAMS="1000 10000" (idle SSE stream counts).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
LAT_DURATION=${LAT_DURATION:-3}
CONNS=${CONNS:-32}
STREAMS=${STREAMS:-"1000 10000"}
BASE_PORT=${BASE_PORT:-19100}

P_BACKEND=$((BASE_PORT + 1))
P_CADDY=$((BASE_PORT + 2))
P_NGINX=$((BASE_PORT + 3))
P_NGINX_TUNED=$((BASE_PORT + 4))
P_GATEWAY=$((BASE_PORT + 5))
P_SSE_GATEWAY=$((BASE_PORT + 6))
ADMIN_PASSWORD=bench-password

work=$(mktemp -d /tmp/mcp-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# Tools: nginx and wrk from apt if missing.
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]} (apt)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

make -s -f xcaddy.mk build >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
go build -o "$work/backend" ./bench/backend
go build -o "$work/sseclient" ./bench/sseclient
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

wait_port() { # port
	for _ in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	return 1
}

start() { # name command... (sets last_pid)
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	last_pid=$!
	pids+=("$last_pid")
}

cpu_ticks() { # pids... -> user+system clock ticks of those processes
	local total=0 p
	for p in "$@"; do
		total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$total"
}

# A Caddyfile of the gateway on port $1 with admin on $2 and registry $3.
gateway_caddyfile() {
	cat <<CF
{
	admin 127.0.0.1:$2
	persist_config off
	mcp_registry {
		storage $3
		admin_user admin
		admin_password $ADMIN_PASSWORD
		health_interval 10m
	}
}
http://:$1 {
	bind 127.0.0.1
	mcp_registry
	mcp_gateway
}
CF
}

register() { # gateway port, path, backend url
	curl -fsS -u "admin:$ADMIN_PASSWORD" -H 'Content-Type: application/json' \
		-d "{\"path\":\"$2\",\"name\":\"bench\",\"proxy_pass_url\":\"$3\",\"transport\":\"streamable-http\"}" \
		"http://127.0.0.1:$1/api/servers" >/dev/null
}

start backend "$work/backend" -addr "127.0.0.1:$P_BACKEND"
backend_pid=$last_pid
wait_port "$P_BACKEND"

# nginx as the original system configured it (HTTP/1.1 to the upstream,
# buffering off, a new upstream connection per request), and tuned with an
# upstream keepalive pool.
cat >"$work/nginx.conf" <<NG
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backend_keepalive {
		server 127.0.0.1:$P_BACKEND;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$P_NGINX;
		location /bench/ {
			proxy_pass http://127.0.0.1:$P_BACKEND/;
			proxy_http_version 1.1;
			proxy_set_header Host \$host;
			proxy_set_header X-Real-IP \$remote_addr;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_buffering off;
			proxy_cache off;
			proxy_read_timeout 3600s;
		}
	}
	server {
		listen 127.0.0.1:$P_NGINX_TUNED;
		location /bench/ {
			proxy_pass http://backend_keepalive/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_buffering off;
			proxy_read_timeout 3600s;
		}
	}
}
NG
start nginx "$NGINX" -p "$work" -c "$work/nginx.conf" -g 'daemon off;'
nginx_pid=$last_pid

cat >"$work/caddy-rp.Caddyfile" <<CF
{
	admin 127.0.0.1:$((P_CADDY + 10))
	persist_config off
}
http://:$P_CADDY {
	bind 127.0.0.1
	handle_path /bench/* {
		reverse_proxy 127.0.0.1:$P_BACKEND
	}
}
CF
start caddy-rp ./caddy run --config "$work/caddy-rp.Caddyfile" --adapter caddyfile
caddy_pid=$last_pid

gateway_caddyfile "$P_GATEWAY" $((P_GATEWAY + 10)) "$work/gateway.db" >"$work/gateway.Caddyfile"
start gateway ./caddy run --config "$work/gateway.Caddyfile" --adapter caddyfile
gateway_pid=$last_pid

for p in "$P_NGINX" "$P_NGINX_TUNED" "$P_CADDY" "$P_GATEWAY"; do wait_port "$p"; done
register "$P_GATEWAY" /bench "http://127.0.0.1:$P_BACKEND"

targets=(direct caddy_reverse_proxy nginx_original nginx_keepalive mcp_gateway)
declare -A url=(
	[direct]="http://127.0.0.1:$P_BACKEND/mcp"
	[caddy_reverse_proxy]="http://127.0.0.1:$P_CADDY/bench/mcp"
	[nginx_original]="http://127.0.0.1:$P_NGINX/bench/mcp"
	[nginx_keepalive]="http://127.0.0.1:$P_NGINX_TUNED/bench/mcp"
	[mcp_gateway]="http://127.0.0.1:$P_GATEWAY/bench/mcp"
)
for t in "${targets[@]}"; do
	out=$(curl -fsS -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		-d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}' "${url[$t]}")
	case "$out" in *'"hello"'*) ;; *) echo "$t answered: $out" >&2; exit 1 ;; esac
done

# The processes that do a target's work: the proxy, or the backend itself
# when it is reached directly.
proxy_pids() {
	case $1 in
	direct) echo "$backend_pid" ;;
	caddy_reverse_proxy) echo "$caddy_pid" ;;
	nginx_*) ps -o pid= --ppid "$nginx_pid" ;;
	mcp_gateway) echo "$gateway_pid" ;;
	esac
}

run_wrk() { # target threads conns seconds -> "rps p50us p99us errors cpu_us_per_request"
	local procs before after
	procs=$(proxy_pids "$1")
	# shellcheck disable=SC2086
	before=$(cpu_ticks $procs)
	local res
	res=$(wrk -t"$2" -c"$3" -d"$4s" -s bench/tools_call.lua "${url[$1]}" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}')
	# shellcheck disable=SC2086
	after=$(cpu_ticks $procs)
	echo "$res" | awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" '{printf "%s %s %s %s %.1f\n", $1, $2, $3, $4, ($5 > 0 ? t * 1e6 / hz / $5 : 0)}'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "rounds: $ROUNDS; throughput: wrk -t2 -c$CONNS -d${DURATION}s; latency: wrk -t1 -c1 -d${LAT_DURATION}s"
for r in $(seq 1 "$ROUNDS"); do
	for t in "${targets[@]}"; do
		run_wrk "$t" 2 "$CONNS" "$DURATION" >>"$work/$t.tput"
		run_wrk "$t" 1 1 "$LAT_DURATION" >>"$work/$t.lat"
	done
	echo "round $r/$ROUNDS done"
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v c="$2" '{print $c}' "$1" | median; }

echo
printf '%-20s %10s %9s %9s %12s %11s %11s %12s %7s\n' target 'req/s' 'vs nginx' 'vs caddy' 'CPU us/req' 'p50 c=1' 'p99 c=1' 'p50 +direct' errors
rps_nginx=$(col "$work/nginx_original.tput" 1)
rps_caddy=$(col "$work/caddy_reverse_proxy.tput" 1)
p50_direct=$(col "$work/direct.lat" 2)
for t in "${targets[@]}"; do
	rps=$(col "$work/$t.tput" 1)
	p50=$(col "$work/$t.lat" 2)
	p99=$(col "$work/$t.lat" 3)
	cpu=$(col "$work/$t.tput" 5)
	errs=$(cat "$work/$t.tput" "$work/$t.lat" | awk '{s+=$4} END {print s}')
	awk -v t="$t" -v rps="$rps" -v n="$rps_nginx" -v c="$rps_caddy" -v cpu="$cpu" -v p50="$p50" -v p99="$p99" -v d="$p50_direct" -v e="$errs" \
		'BEGIN {printf "%-20s %10.0f %8.2fx %8.2fx %12.1f %9.0fus %9.0fus %10.0fus %7d\n", t, rps, rps/n, rps/c, cpu, p50, p99, p50-d, e}'
done
echo "(CPU us/req: CPU time of the proxy process per request, of the backend for direct; medians of $ROUNDS rounds)"

# Idle legacy SSE streams: a fresh gateway per count, memory before and
# after the streams are open (RSS, and Go heap + stacks from /metrics).
mem() { # pid admin-port -> "rss_bytes heap_plus_stack_bytes"
	local rss heap
	# A forced garbage collection first, so that the figures count live
	# memory rather than garbage awaiting collection.
	curl -fsS "http://127.0.0.1:$2/debug/pprof/heap?gc=1" >/dev/null
	curl -fsS "http://127.0.0.1:$2/debug/pprof/heap?gc=1" >/dev/null
	rss=$(awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status")
	heap=$(curl -fsS "http://127.0.0.1:$2/metrics" | awk '/^go_memstats_heap_inuse_bytes / {h=$2} /^go_memstats_stack_inuse_bytes / {s=$2} END {printf "%.0f", h+s}')
	echo "$rss $heap"
}
echo
printf '%-8s %8s %14s %20s\n' streams opened 'RSS/stream' 'heap+stack/stream'
nofile=$(ulimit -n)
for n in $STREAMS; do
	# The gateway holds two descriptors per stream (client and backend).
	if [ $((2 * n + 200)) -gt "$nofile" ]; then
		echo "note: open-files limit $nofile allows $(((nofile - 200) / 2)) streams, not $n (raise ulimit -n as root)"
		n=$(((nofile - 200) / 2))
	fi
	admin=$((P_SSE_GATEWAY + 10))
	gateway_caddyfile "$P_SSE_GATEWAY" "$admin" "$work/sse-$n.db" >"$work/sse-gateway.Caddyfile"
	./caddy run --config "$work/sse-gateway.Caddyfile" --adapter caddyfile >"$work/sse-gateway-$n.log" 2>&1 &
	gw=$!
	pids+=("$gw")
	wait_port "$P_SSE_GATEWAY"
	register "$P_SSE_GATEWAY" /sse-bench "http://127.0.0.1:$P_BACKEND"
	"$work/sseclient" -url "http://127.0.0.1:$P_SSE_GATEWAY/sse-bench/sse" -n 10 -hold 0s >/dev/null
	sleep 1
	read -r rss0 heap0 < <(mem "$gw" "$admin")
	"$work/sseclient" -url "http://127.0.0.1:$P_SSE_GATEWAY/sse-bench/sse" -n "$n" -hold 10m >"$work/sseclient-$n.log" 2>&1 &
	client=$!
	pids+=("$client")
	for _ in $(seq 1 1200); do
		grep -q '^ready' "$work/sseclient-$n.log" && break
		sleep 0.1
	done
	sleep 2
	read -r rss1 heap1 < <(mem "$gw" "$admin")
	opened=$(awk '/^ready/ {print $2}' "$work/sseclient-$n.log")
	awk -v n="$n" -v o="${opened:-0}" -v r0="$rss0" -v r1="$rss1" -v h0="$heap0" -v h1="$heap1" \
		'BEGIN {d = (o > 0 ? o : 1); printf "%-8d %8d %11.1f KiB %17.1f KiB\n", n, o, (r1-r0)/d/1024, (h1-h0)/d/1024}'
	kill "$client" "$gw" 2>/dev/null || true
	wait "$client" "$gw" 2>/dev/null || true
done
