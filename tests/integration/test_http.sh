#!/usr/bin/env bash
# The http guest against curl and wrk: GET / ; GET /counter twice increments;
# PUT then GET /kv/KEY returns the same bytes; unknown paths and keys are 404;
# keep-alive reuses the connection; `wrk -d 3s -c 8 -t 2` completes with
# requests > 0, no socket errors and no non-2xx/3xx responses.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"

t_init curl wrk
guest_boot http

base="http://$G_IP"
# curl_req OUTFILE ARGS... -> prints the HTTP status code
curl_req() {
	local outf=$1
	shift
	c_exec curl -sS --max-time 10 -o "$outf" -w '%{http_code}' "$@" 2>&1
}
first_int() { grep -oE '[0-9]+' "$1" | head -n1; }

t_eq "GET / status" 200 "$(curl_req "$T_TMP/root" "$base/")"
t_check "GET / has a body" test -s "$T_TMP/root"

t_eq "GET /counter status" 200 "$(curl_req "$T_TMP/c1" "$base/counter")"
t_eq "GET /counter again status" 200 "$(curl_req "$T_TMP/c2" "$base/counter")"
c1=$(first_int "$T_TMP/c1")
c2=$(first_int "$T_TMP/c2")
t_check "counter is a number ($c1)" test -n "$c1"
t_eq "counter increments by 1" "$(( ${c1:-0} + 1 ))" "${c2:-none}"

key="k$$x$RANDOM"
printf 'value %s with spaces and\nnewline' "$RANDOM" >"$T_TMP/put"
code=$(curl_req "$T_TMP/putreply" -X PUT --data-binary @"$T_TMP/put" "$base/kv/$key")
t_check "PUT /kv/$key status is 2xx ($code)" matches "$code" '^2[0-9][0-9]$'
t_eq "GET /kv/$key status" 200 "$(curl_req "$T_TMP/get" "$base/kv/$key")"
t_eq "GET /kv/$key returns the PUT body" "$(sha256sum <"$T_TMP/put")" "$(sha256sum <"$T_TMP/get")"

t_eq "GET /kv/missing is 404" 404 "$(curl_req /dev/null "$base/kv/missing-$key")"
t_eq "GET /no/such/path is 404" 404 "$(curl_req /dev/null "$base/no/such/path")"

# Two requests on one curl command line reuse the connection (keep-alive).
conns=$(c_exec curl -sS --max-time 10 -o /dev/null -o /dev/null \
	-w '%{num_connects}\n' "$base/" "$base/counter" 2>&1 | tr '\n' ' ')
t_eq "HTTP/1.1 keep-alive: second request on the same connection" "1 0 " "$conns"

# wrk: parse its summary.
c_exec timeout 60 wrk -d 3s -c 8 -t 2 "$base/" >"$T_TMP/wrk.out" 2>&1
status=$?
sed 's/^/  | /' "$T_TMP/wrk.out"
t_eq "wrk exit status" 0 "$status"
summary=$(wrk_summary "$T_TMP/wrk.out")   # requests=N rps=X socket_errors=N non2xx=N
t_info "wrk: $summary"
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$summary"; }
reqs=$(field requests)
rps=$(field rps)
t_check "wrk completed requests (${reqs:-none})" test "${reqs:-0}" -gt 0
t_check "wrk reports Requests/sec (${rps:-none})" matches "${rps:-NA}" '^[0-9.]+$'
t_eq "no socket errors (wrk 'Socket errors' line)" 0 "$(field socket_errors)"
t_eq "no non-2xx/3xx responses" 0 "$(field non2xx)"
t_eq "GET / still works after wrk" 200 "$(curl_req /dev/null "$base/")"
[ "$NATIVE" = 1 ] || t_check "monitor still running" guest_alive
t_finish "${rps:+$rps req/s}"
