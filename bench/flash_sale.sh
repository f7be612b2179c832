#!/usr/bin/env bash
# bench/flash_sale.sh - runs bench-flash_sale against a stack of its own
#
# Run through `scripts/bench flash-sale [seconds] [buyers] [paced holds/s]` (dev services up,
# TIXMO_* exported).
# The stack gets its own database (tixmo_flash) and RabbitMQ vhost (flash), so neither the dev
# data nor the dev processors are involved: a processor, a projector, the payment worker when
# built, a Stripe stand-in and a gateway with one event-loop thread per core and limits high
# enough for one machine to play a thousand buyers. Everything is removed afterwards.
#
# The Stripe stand-in is nginx + njs (tools/stripe-lite: the tests' happy path, tens of us of CPU
# per PaymentIntent) unless TIXMO_BENCH_STRIPE=wiremock asks for WireMock with the tests'
# mappings, as before (its templating costs this machine the CPU Stripe's own machines spend).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
tix_profile dev
STRIPE=${TIXMO_BENCH_STRIPE:-lite}
if [[ $STRIPE != lite && $STRIPE != wiremock ]]; then
    echo "bench/flash_sale.sh: TIXMO_BENCH_STRIPE must be lite or wiremock, not $STRIPE" >&2
    exit 2
fi
BIN=${TIXMO_BIN_DIR:?}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PORT=$((TIX_HTTP_PORT + 13))
work=$(mktemp -d)
logs="$TIX_RUN/log"
mkdir -p "$logs"
pids=()
super="postgresql://postgres@127.0.0.1:$TIX_PG_PORT/postgres"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    psql -q "$super" -c "DROP DATABASE IF EXISTS tixmo_flash WITH (FORCE)" 2>/dev/null || true
    tix_rabbitmqctl delete_vhost flash >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql -q "$super" -c "DROP DATABASE IF EXISTS tixmo_flash WITH (FORCE)" -c "CREATE DATABASE tixmo_flash OWNER tixmo_owner"
tix_pg_functions tixmo_flash
tix_rabbitmqctl delete_vhost flash >/dev/null 2>&1 || true
tix_rabbitmqctl add_vhost flash >/dev/null
tix_rabbitmqctl set_permissions -p flash guest '.*' '.*' '.*' >/dev/null

export TIXMO_DB_ADMIN_URL="postgresql://tixmo_owner@127.0.0.1:$TIX_PG_PORT/tixmo_flash"
export TIXMO_DB_URL="postgresql://tixmo_app@127.0.0.1:$TIX_PG_PORT/tixmo_flash"
export TIXMO_AMQP_URL="amqp://guest:guest@127.0.0.1:$TIX_AMQP_PORT/flash"
export TIXMO_HTTP_PORT=$PORT TIXMO_LOG_LEVEL=${TIXMO_LOG_LEVEL:-warn}
export TIXMO_RL_GENERAL_PER_USER=1000000 TIXMO_RL_GENERAL_PER_IP=1000000
export TIXMO_RL_AUTH_PER_IP=1000000 TIXMO_RL_HOLDS_PER_USER=1000000
export TIXMO_BATCH_MAX=${TIXMO_BATCH_MAX:-256} TIXMO_PREFETCH=${TIXMO_PREFETCH:-512}
"$BIN/tixmo" migrate >/dev/null

# Starts the light Stripe stand-in on STRIPE_PORT: nginx + njs, one process, files under $work.
start_stripe_lite() {
    local dir="$work/stripe-lite"
    tix_ensure_stripe_lite >/dev/null || exit 1
    mkdir -p "$dir"
    sed -e "s|@MODULE@|$TIX_NGINX_JS_MODULE|g" -e "s|@DIR@|$TIX_ROOT/tools/stripe-lite|g" \
        -e "s|@WORK@|$dir|g" -e "s|@PORT@|$STRIPE_PORT|g" \
        "$TIX_ROOT/tools/stripe-lite/nginx.conf.in" >"$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" >"$logs/flash-stripe.log" 2>&1 &
}
# Starts WireMock with the tests' mappings on STRIPE_PORT, without the request journal and
# request logging the tests read (a journal entry per PaymentIntent is the stand-in's work, not
# Stripe's and not TixMo's).
start_stripe_wiremock() {
    tix_ensure_wiremock >/dev/null || exit 1
    java -Xmx256m -jar "$TIX_WIREMOCK_JAR" --port "$STRIPE_PORT" --bind-address 127.0.0.1 \
        --root-dir "$TIX_ROOT/tests/stripe" --disable-banner --no-request-journal \
        --disable-request-logging --container-threads 16 >"$logs/flash-stripe.log" 2>&1 &
}
# Exits unless the answer to POST PATH (form FORM, Idempotency-Key KEY) on the stand-in is a
# 200 whose JSON has each "field": value pattern that follows.
stripe_expect() {
    local path=$1 key=$2 form=$3 body pat
    shift 3
    body=$(curl -sS --fail-with-body -H "Authorization: Bearer $TIXMO_STRIPE_SECRET_KEY" \
        -H "Idempotency-Key: $key" -H "Content-Type: application/x-www-form-urlencoded" \
        --data "$form" "$TIXMO_STRIPE_URL$path") || {
        echo "bench/flash_sale.sh: the $STRIPE Stripe stand-in failed POST $path: $body" >&2
        exit 1
    }
    for pat in "$@"; do
        grep -Eq "$pat" <<<"$body" || {
            echo "bench/flash_sale.sh: the $STRIPE Stripe stand-in's POST $path lacks $pat:" >&2
            echo "$body" >&2
            exit 1
        }
    done
}
# One PaymentIntent and one refund, asked as the payment worker asks them, must come back as it
# reads them (intent id from the key, client_secret, amount and currency echoed). Not the
# metadata, which the worker does not read: WireMock's template finds no metadata[order_id] in a
# form whose keys are percent-encoded, as libcurl's are, and echoes the whole form instead.
stripe_check() {
    local order=0a1b2c3d-0000-4000-8000-00000000abcd
    local intent=pi_${order//-/}
    stripe_expect /v1/payment_intents "tixmo-order-$order" \
        "amount=4500&currency=eur&automatic_payment_methods%5Benabled%5D=true&metadata%5Border_id%5D=$order&metadata%5Bevent_id%5D=$order" \
        "\"id\": ?\"$intent\"" "\"client_secret\": ?\"${intent}_secret_[A-Za-z0-9]+\"" \
        '"amount": ?4500[,}[:space:]]' '"currency": ?"eur"' '"status": ?"requires_payment_method"'
    stripe_expect /v1/refunds "tixmo-refund-$order" \
        "payment_intent=$intent&amount=4500&metadata%5Border_id%5D=$order&metadata%5Bevent_id%5D=$order" \
        "\"id\": ?\"re_${order//-/}\"" "\"payment_intent\": ?\"$intent\"" \
        '"amount": ?4500[,}[:space:]]' '"status": ?"succeeded"'
}

STRIPE_PORT=$((PORT + 1))
if [[ $STRIPE == wiremock ]]; then start_stripe_wiremock; else start_stripe_lite; fi
pids+=($!)
declare -A comp=([stripe]=$!)
for _ in $(seq 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$STRIPE_PORT/__admin/health" && break
    sleep 0.1
done
export TIXMO_STRIPE_URL="http://127.0.0.1:$STRIPE_PORT"
stripe_check

for prog in tixmo-processor tixmo-projector tixmo-payment tixmo-gateway; do
    [[ -x "$BIN/$prog" ]] || continue
    # The projector logs its passes (info, every 5 s: "sale passes", "projector passes").
    level=$TIXMO_LOG_LEVEL
    [[ $prog == tixmo-projector && $level == warn ]] && level=info
    TIXMO_LOG_LEVEL=$level "$BIN/$prog" 2>"$logs/flash-$prog.log" &
    pids+=($!)
    comp[${prog#tixmo-}]=$!
done
for _ in $(seq 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
    sleep 0.1
done
# CPU time (ticks) of each component, as "name ticks" lines: this stack's processes, the
# servers they share with the dev stack, and every Postgres session of tixmo_flash.
cpu_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || {
        echo 0
        return
    }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
snapshot() {
    local name pg
    for name in "${!comp[@]}"; do
        echo "$name $(cpu_ticks "${comp[$name]}")"
    done
    echo "rabbitmq $(cpu_ticks "$(cat "$TIX_RUN/pids/rabbitmq.pid")")"
    echo "redis $(cpu_ticks "$(cat "$TIX_RUN/pids/redis.pid")")"
    echo "bench $(cpu_ticks "$(cat "$work/bench.pid")")"
    for pg in $(psql -At "$super" -c "SELECT pid FROM pg_stat_activity WHERE datname = 'tixmo_flash'"); do
        echo "postgres $(cpu_ticks "$pg")"
    done
}
# Prints each component's CPU per hold between the snapshots before and after the buying.
cpu_per_hold() {
    local holds=$1 hz
    hz=$(getconf CLK_TCK)
    echo "  CPU per hold while buying (us; every component on this machine, Stripe stand-in included):"
    awk -v holds="$holds" -v hz="$hz" '
        NR == FNR { before[$1] += $2; next }
        { after[$1] += $2 }
        END {
            for (k in after) {
                us = (after[k] - before[k]) * 1e6 / hz / holds
                total += us
                printf "    %-10s %7.0f\n", k, us
            }
            printf "    %-10s %7.0f\n", "total", total
        }' "$work/cpu.before" "$work/cpu.after" | sort -k2 -rn
}

{
    stdbuf -oL "$BIN/bench-flash_sale" "$@" & # line-buffered: the snapshots follow its lines
    echo $! >"$work/bench.pid"
    status=0
    wait $! || status=$?
    echo "$status" >"$work/status"
} | while IFS= read -r line; do
    printf '%s\n' "$line"
    case $line in
    "bench/flash_sale:"* | "  holds only:"*) snapshot >"$work/cpu.before" ;;
    "  tixmo: "* | "  held: "*)
        snapshot >"$work/cpu.after"
        holds=$(awk '{ print $2 }' <<<"$line")
        ;;
    "  checks:"*)
        if [[ ${holds:-0} -gt 0 ]]; then cpu_per_hold "$holds"; fi
        holds=0 # the surge's and the holds-only run's: the paced run has none
        ;;
    esac
done
status=$(cat "$work/status")
for f in "$logs"/flash-*.log; do
    if grep -qiE 'error|fatal' "$f"; then
        echo "--- $(basename "$f") (errors, last lines)"
        grep -iE 'error|fatal' "$f" | tail -5
    fi
done
exit "$status"
