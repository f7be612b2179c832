# shellcheck shell=bash
# scripts/lib.sh: helpers shared by scripts/up, down, reset, test and rabbitmqctl.
#
# Source it from bash (`. scripts/lib.sh`); it works under `set -euo pipefail`.
# Every function reports failure by returning non-zero with a message on stderr
# (it never relies on `set -e`, which bash switches off inside `if f; then`), so
# callers can write `tix_start_services || exit 1` or `if tix_build asan; then`.
#
# Public functions:
#   tix_profile dev|test        set TIX_* variables and export TIXMO_* for that profile
#   tix_ensure_packages         apt-get install whatever Debian package is missing, then WireMock
#                               and MailDev
#   tix_build [normal|asan]     cmake --preset dev|asan, then build with 2 jobs
#   tix_ensure_wiremock         npm ci the WireMock package of tools/wiremock (the Stripe stand-in)
#   tix_ensure_maildev          npm ci the MailDev package of tools/maildev (the SMTP stand-in)
#   tix_ensure_stripe_lite      apt-get install nginx + njs (the benchmarks' Stripe stand-in)
#   tix_start_services          postgres + redis + rabbitmq (+ epmd) + stripe + mail, then write
#                               $TIX_RUN/env
#   tix_start_postgres / tix_start_redis / tix_start_rabbitmq / tix_start_stripe / tix_start_mail
#   tix_stop_postgres / tix_stop_redis / tix_stop_rabbitmq / tix_stop_stripe / tix_stop_mail
#   tix_stop_tixmo
#   tix_stop_all                stop everything this profile started, by pid
#   tix_stop_strays             stop this profile's servers that no pid file knows (by port)
#   tix_wipe_profile            delete $TIX_RUN (and the /tmp fallback data folder, if any)
#   tix_write_env               write $TIX_RUN/env (sourceable exports)
#   tix_pg_bootstrap            create roles tixmo_owner/tixmo_app and database tixmo (idempotent)
#   tix_pg_reset_db             drop and recreate database tixmo (roles are kept)
#   tix_redis_flush             FLUSHALL
#   tix_rabbit_reset            stop_app, reset, start_app (empties every queue and exchange)
#   tix_rabbitmqctl ARGS...     rabbitmqctl -n $TIX_RABBIT_NODE with this profile's environment
#   tix_rabbit_env CMD ARGS...  run any command with this profile's RabbitMQ environment
#   tix_migrate [BIN_DIR]       BIN_DIR/tixmo migrate (default $TIXMO_BIN_DIR)
#   tix_start_proc NAME [ARGS]  start $TIXMO_BIN_DIR/NAME in the background (pid + log files)
#   tix_status                  one line per service: running or not

if [[ -n "${TIX_LIB_LOADED:-}" ]]; then
    return 0
fi
TIX_LIB_LOADED=1

TIX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export TIX_ROOT

TIX_PG_BIN=/usr/lib/postgresql/15/bin
TIX_WIREMOCK_VERSION=3.13.2 # must match tools/wiremock/package.json
TIX_WIREMOCK_DIR="$TIX_ROOT/tools/wiremock"
TIX_WIREMOCK_JAR="$TIX_WIREMOCK_DIR/node_modules/wiremock/build/wiremock-standalone-$TIX_WIREMOCK_VERSION.jar"
TIX_MAILDEV_DIR="$TIX_ROOT/tools/maildev"
TIX_MAILDEV_BIN="$TIX_MAILDEV_DIR/node_modules/maildev/bin/maildev"
TIX_RABBIT_BIN=/usr/lib/rabbitmq/bin

TIX_PACKAGES=(
    build-essential cmake pkg-config clang-format
    libpq-dev librabbitmq-dev libhiredis-dev libevent-dev libjansson-dev libsodium-dev
    libcurl4-openssl-dev libqrencode-dev libpng-dev libcairo2-dev libcriterion-dev libyaml-dev
    postgresql-15 postgresql-contrib postgresql-server-dev-15 redis-server rabbitmq-server
    openjdk-17-jre-headless
)
# Installed on demand by bench/flash_sale.sh: nginx with njs, its light Stripe stand-in.
TIX_STRIPE_LITE_PACKAGES=(nginx libnginx-mod-http-js)
TIX_NGINX_JS_MODULE=/usr/lib/nginx/modules/ngx_http_js_module.so

# ---------------------------------------------------------------- messages

tix_log() {
    printf '[tixmo] %s\n' "$*" >&2
}

tix_err() {
    printf '[tixmo] ERROR: %s\n' "$*" >&2
}

# tix_tail FILE [LINES]: show the end of a log file, indented, on stderr.
tix_tail() {
    local file=$1 lines=${2:-40}
    if [[ -r "$file" ]]; then
        printf '[tixmo] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" | sed 's/^/    /' >&2
        printf '[tixmo] ----\n' >&2
    else
        printf '[tixmo] (no log at %s)\n' "$file" >&2
    fi
}

_tix_is_root() {
    [[ "$(id -u)" == 0 ]]
}

# ---------------------------------------------------------------- profiles

# tix_profile dev|test: sets
#   TIX_PROFILE TIX_RUN TIX_PG_PORT TIX_REDIS_PORT TIX_AMQP_PORT TIX_RABBIT_DIST_PORT
#   TIX_EPMD_PORT TIX_HTTP_PORT TIX_STRIPE_PORT TIX_SMTP_PORT TIX_MAILDEV_PORT TIX_RABBIT_NODE TIX_BUILD_DIR TIX_ASAN_BUILD_DIR
#   TIX_PG_BASE TIX_PG_DATA TIX_PG_SOCKET TIX_RABBIT_ENV (array) TIX_PAT_* (pid checks)
# and exports the TIXMO_* variables the programs read.
tix_profile() {
    local profile=${1:-}
    # TIX_SLOT=N (0..9, default 0) moves every port of the profile up by N*1000 and its data to
    # .run/<profile><N>, so several checkouts (git worktrees) can run side by side.
    local slot=${TIX_SLOT:-0}
    case "$slot" in
    [0-9]) ;;
    *)
        tix_err "TIX_SLOT must be a digit 0..9, not '$slot'"
        return 1
        ;;
    esac
    local k=$((slot * 1000))
    case "$profile" in
    dev)
        TIX_PG_PORT=$((25432 + k)) TIX_REDIS_PORT=$((26379 + k)) TIX_AMQP_PORT=$((25672 + k))
        TIX_RABBIT_DIST_PORT=$((25673 + k)) TIX_EPMD_PORT=$((24369 + k))
        TIX_HTTP_PORT=$((28080 + k)) TIX_RABBIT_CTL_PORT_MIN=$((25680 + k))
        TIX_STRIPE_PORT=$((28111 + k))
        TIX_SMTP_PORT=$((28125 + k)) TIX_MAILDEV_PORT=$((28126 + k))
        ;;
    test)
        TIX_PG_PORT=$((35432 + k)) TIX_REDIS_PORT=$((36379 + k)) TIX_AMQP_PORT=$((35672 + k))
        TIX_RABBIT_DIST_PORT=$((35673 + k)) TIX_EPMD_PORT=$((34369 + k))
        TIX_HTTP_PORT=$((38080 + k)) TIX_RABBIT_CTL_PORT_MIN=$((35680 + k))
        TIX_STRIPE_PORT=$((38111 + k))
        TIX_SMTP_PORT=$((38125 + k)) TIX_MAILDEV_PORT=$((38126 + k))
        ;;
    *)
        tix_err "tix_profile: unknown profile '$profile' (want dev or test)"
        return 1
        ;;
    esac
    [[ $slot == 0 ]] || profile="$profile$slot"
    # rabbitmqctl's own Erlang node listens on one port of this range while it runs.
    # RabbitMQ's default range starts at 35672, our test AMQP port: keep them apart.
    TIX_RABBIT_CTL_PORT_MAX=$((TIX_RABBIT_CTL_PORT_MIN + 9))
    TIX_PROFILE=$profile
    TIX_RUN="$TIX_ROOT/.run/$profile"
    TIX_RABBIT_NODE="tixmo-$profile@localhost"
    TIX_BUILD_DIR="$TIX_ROOT/build"
    TIX_ASAN_BUILD_DIR="$TIX_ROOT/build-asan"
    TIX_HASH="$(printf '%s' "$TIX_ROOT" | sha1sum | cut -c1-12)"
    TIX_TMP_BASE="/tmp/tixmo-$TIX_HASH/$profile"
    # What the command line of each of this profile's servers contains (/proc/PID/cmdline,
    # NULs as spaces): a pid file is only believed when its process matches.
    TIX_PAT_REDIS="redis-server 127.0.0.1:$TIX_REDIS_PORT"
    TIX_PAT_BEAM="-epmd_port $TIX_EPMD_PORT "
    TIX_PAT_EPMD="epmd -port $TIX_EPMD_PORT "
    TIX_PAT_STRIPE="wiremock-standalone-$TIX_WIREMOCK_VERSION.jar --port $TIX_STRIPE_PORT "
    TIX_PAT_MAIL="bin/maildev --smtp $TIX_SMTP_PORT "
    _tix_pg_locate # sets TIX_PAT_PG too

    export TIX_PROFILE TIX_RUN TIX_RABBIT_NODE TIX_BUILD_DIR TIX_ASAN_BUILD_DIR
    export TIX_PG_PORT TIX_REDIS_PORT TIX_AMQP_PORT TIX_RABBIT_DIST_PORT TIX_EPMD_PORT TIX_HTTP_PORT
    export TIX_STRIPE_PORT TIX_SMTP_PORT TIX_MAILDEV_PORT

    export TIXMO_DB_URL="postgresql://tixmo_app@127.0.0.1:$TIX_PG_PORT/tixmo"
    export TIXMO_DB_ADMIN_URL="postgresql://tixmo_owner@127.0.0.1:$TIX_PG_PORT/tixmo"
    export TIXMO_DB_SUPER_URL="postgresql://postgres@127.0.0.1:$TIX_PG_PORT/tixmo"
    export TIXMO_AMQP_URL="amqp://guest:guest@127.0.0.1:$TIX_AMQP_PORT/%2f"
    export TIXMO_REDIS_URL="redis://127.0.0.1:$TIX_REDIS_PORT"
    export TIXMO_PARTITIONS=16
    export TIXMO_HTTP_PORT="$TIX_HTTP_PORT"
    export TIXMO_RUN_DIR="$TIX_RUN"
    export TIXMO_BIN_DIR="$TIX_BUILD_DIR"
    export TIXMO_LOG_LEVEL=info
    # The Stripe stand-in (WireMock, tests/stripe). Test-mode keys: not secrets.
    export TIXMO_STRIPE_URL="http://127.0.0.1:$TIX_STRIPE_PORT"
    export TIXMO_STRIPE_SECRET_KEY=sk_test_tixmo_${profile}_0123456789
    export TIXMO_STRIPE_WEBHOOK_SECRET=whsec_tixmo_${profile}_0123456789abcdef
    # The SMTP stand-in (MailDev: what it caught is at $TIX_MAILDEV_URL/email).
    export TIXMO_SMTP_URL="smtp://127.0.0.1:$TIX_SMTP_PORT"
    export TIXMO_MAIL_FROM="tickets@tixmo.test"
    export TIXMO_APP_URL="http://127.0.0.1:$TIX_HTTP_PORT"
    export TIX_MAILDEV_URL="http://127.0.0.1:$TIX_MAILDEV_PORT"

    TIX_RABBIT_ENV=(
        "HOME=$TIX_RUN/rabbitmq"
        "LC_ALL=C.UTF-8"
        "RABBITMQ_NODENAME=$TIX_RABBIT_NODE"
        "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
        "RABBITMQ_NODE_PORT=$TIX_AMQP_PORT"
        "RABBITMQ_DIST_PORT=$TIX_RABBIT_DIST_PORT"
        "ERL_EPMD_PORT=$TIX_EPMD_PORT"
        "ERL_EPMD_ADDRESS=127.0.0.1"
        "RABBITMQ_CONF_ENV_FILE=$TIX_RUN/rabbitmq/rabbitmq-env.conf"
        "RABBITMQ_CONFIG_FILE=$TIX_RUN/rabbitmq/rabbitmq.conf"
        "RABBITMQ_ADVANCED_CONFIG_FILE=$TIX_RUN/rabbitmq/advanced.config"
        "RABBITMQ_ENABLED_PLUGINS_FILE=$TIX_RUN/rabbitmq/enabled_plugins"
        "RABBITMQ_MNESIA_BASE=$TIX_RUN/rabbitmq/mnesia"
        "RABBITMQ_LOG_BASE=$TIX_RUN/log/rabbitmq"
        "RABBITMQ_PID_FILE=$TIX_RUN/pids/rabbitmq.pid"
        "ERL_CRASH_DUMP=$TIX_RUN/log/rabbitmq/erl_crash.dump"
        # Schedulers that busy-wait for work burn the CPU the other servers of a small shared
        # machine need; with them off RabbitMQ sleeps when idle.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
        "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
        "RABBITMQ_CTL_DIST_PORT_MIN=$TIX_RABBIT_CTL_PORT_MIN"
        "RABBITMQ_CTL_DIST_PORT_MAX=$TIX_RABBIT_CTL_PORT_MAX"
    )
}

_tix_need_profile() {
    if [[ -z "${TIX_PROFILE:-}" ]]; then
        tix_err "call tix_profile dev|test first"
        return 1
    fi
}

tix_write_env() {
    _tix_need_profile || return 1
    mkdir -p "$TIX_RUN" || return 1
    local var tmp="$TIX_RUN/env.tmp"
    {
        printf '# TixMo %s profile. From a shell: . %s\n' "$TIX_PROFILE" "$TIX_RUN/env"
        printf '# Written by scripts/lib.sh; rewritten at every start.\n'
        for var in TIXMO_DB_URL TIXMO_DB_ADMIN_URL TIXMO_DB_SUPER_URL TIXMO_AMQP_URL \
            TIXMO_REDIS_URL TIXMO_PARTITIONS TIXMO_HTTP_PORT TIXMO_RUN_DIR TIXMO_BIN_DIR \
            TIXMO_LOG_LEVEL TIXMO_STRIPE_URL TIXMO_STRIPE_SECRET_KEY TIXMO_STRIPE_WEBHOOK_SECRET \
            TIXMO_SMTP_URL TIXMO_MAIL_FROM TIXMO_APP_URL TIX_MAILDEV_URL; do
            printf 'export %s=%q\n' "$var" "${!var}"
        done
    } >"$tmp" && mv -f "$tmp" "$TIX_RUN/env"
}

# ---------------------------------------------------------------- packages

_tix_pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Debian packages, then the npm tools (WireMock, MailDev).
tix_ensure_packages() {
    _tix_apt_install "${TIX_PACKAGES[@]}" && tix_ensure_wiremock && tix_ensure_maildev
}

# _tix_apt_install PKG...: apt-get install those of PKG that are missing.
_tix_apt_install() {
    local pkg missing=()
    for pkg in "$@"; do
        _tix_pkg_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    tix_log "installing missing packages: ${missing[*]}"
    local sudo=()
    if ! _tix_is_root; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            tix_err "not root and no sudo: install these packages by hand: ${missing[*]}"
            return 1
        fi
    fi
    # Package scripts try to start the system-wide services (invoke-rc.d). We run our own
    # copies on other ports, so forbid that while we install (101 = action forbidden).
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, written by tixmo scripts/lib.sh\nexit 101\n' |
            "${sudo[@]}" tee "$policy" >/dev/null &&
            "${sudo[@]}" chmod 755 "$policy" && made_policy=1
    fi
    if ! "${sudo[@]}" apt-get update -q; then
        tix_err "apt-get update failed"
        rc=1
    elif ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q "${missing[@]}"; then
        tix_err "apt-get install failed for: ${missing[*]}"
        rc=1
    fi
    if ((made_policy)); then
        "${sudo[@]}" rm -f "$policy"
    fi
    if ((rc == 0)); then
        for pkg in "${missing[@]}"; do
            if ! _tix_pkg_installed "$pkg"; then
                tix_err "package $pkg is still not installed"
                rc=1
            fi
        done
    fi
    return "$rc"
}

# ---------------------------------------------------------------- build

# tix_build [normal|asan]
tix_build() {
    local kind=${1:-normal} preset
    case "$kind" in
    normal | dev) preset=dev ;;
    asan) preset=asan ;;
    *)
        tix_err "tix_build: unknown kind '$kind' (want normal or asan)"
        return 1
        ;;
    esac
    if [[ ! -f "$TIX_ROOT/CMakePresets.json" ]]; then
        tix_err "no CMakePresets.json in $TIX_ROOT: cannot build preset '$preset'"
        return 1
    fi
    tix_log "build: cmake --preset $preset"
    (cd "$TIX_ROOT" && cmake --preset "$preset" && cmake --build --preset "$preset" --parallel 2) || {
        tix_err "build ($preset) failed"
        return 1
    }
}

# ---------------------------------------------------------------- processes and pid files

# _tix_pid_alive PID [PATTERN]: the process exists, is not a zombie, and its command line
# contains PATTERN (protects against a recycled pid).
_tix_pid_alive() {
    local pid=$1 pat=${2:-} cmd=""
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
    [[ -n "$cmd" ]] || return 1 # zombie or gone
    [[ -z "$pat" || "$cmd" == *"$pat"* ]]
}

# _tix_pidfile_alive FILE [PATTERN]: prints the pid if FILE names a live process.
_tix_pidfile_alive() {
    local file=$1 pat=${2:-} pid=""
    [[ -s "$file" ]] || return 1
    read -r pid <"$file" || [[ -n "$pid" ]] || return 1
    _tix_pid_alive "$pid" "$pat" || return 1
    printf '%s\n' "$pid"
}

# _tix_kill PID PATTERN [TIMEOUT_S] [FIRST_SIGNAL]: signal, wait, then SIGKILL.
_tix_kill() {
    local pid=$1 pat=$2 timeout=${3:-15} sig=${4:-TERM} i
    _tix_pid_alive "$pid" "$pat" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        _tix_pid_alive "$pid" "$pat" || return 0
        sleep 0.1
    done
    tix_log "pid $pid ($pat) did not stop after ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        _tix_pid_alive "$pid" "$pat" || return 0
        sleep 0.1
    done
    tix_err "pid $pid ($pat) survived SIGKILL"
    return 1
}

# _tix_stop_pidfile NAME FILE PATTERN [TIMEOUT] [SIGNAL]
_tix_stop_pidfile() {
    local name=$1 file=$2 pat=$3 timeout=${4:-15} sig=${5:-TERM} pid
    if pid=$(_tix_pidfile_alive "$file" "$pat"); then
        tix_log "stopping $name (pid $pid)"
        _tix_kill "$pid" "$pat" "$timeout" "$sig" || return 1
    fi
    rm -f "$file"
}

# _tix_port_busy PORT: something accepts connections on 127.0.0.1:PORT.
_tix_port_busy() {
    (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_tix_port_free_or_die() {
    local port=$1 what=$2
    if _tix_port_busy "$port"; then
        tix_err "$what: port 127.0.0.1:$port is already in use by a process this profile did not" \
            "start; find it with: ss -ltnp 'sport = :$port'"
        return 1
    fi
}

_tix_dirs() {
    mkdir -p "$TIX_RUN/pids" "$TIX_RUN/log" || return 1
    # Our own folders: world-traversable so that the postgres user can reach its data.
    chmod 755 "$TIX_ROOT/.run" "$TIX_RUN" "$TIX_RUN/log" 2>/dev/null || true
}

# ---------------------------------------------------------------- postgres

# Where the Postgres data and socket live. As root, the server runs as user postgres, which
# must be able to traverse every parent folder; when it can't, use /tmp/tixmo-<hash>/<profile>.
_tix_pg_locate() {
    TIX_PG_BASE="$TIX_RUN"
    if _tix_is_root && ! _tix_pg_can_reach "$TIX_RUN"; then
        TIX_PG_BASE="$TIX_TMP_BASE"
    fi
    TIX_PG_DATA="$TIX_PG_BASE/pg"
    TIX_PAT_PG="/postgres -D $TIX_PG_DATA "
    TIX_PG_SOCKET="$TIX_PG_BASE/pg-socket"
    # A Unix socket path is limited to 107 bytes.
    if ((${#TIX_PG_SOCKET} + 16 > 107)); then
        TIX_PG_SOCKET="$TIX_TMP_BASE/pg-socket"
    fi
    export TIX_PG_DATA TIX_PG_SOCKET
}

# Can user postgres traverse DIR (or, if DIR does not exist yet, its nearest existing parent
# plus the folders we will create with mode 755)?
_tix_pg_can_reach() {
    local dir=$1
    id postgres >/dev/null 2>&1 || return 0 # no postgres user yet: decided again after install
    while [[ ! -e "$dir" ]]; do
        dir=$(dirname "$dir")
    done
    runuser -u postgres -- test -x "$dir" 2>/dev/null
}

_tix_as_pg() {
    if _tix_is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

_tix_psql_super() {
    # psql as the superuser on database $1 (default postgres), with psql options $2...; SQL on
    # stdin.
    local db=${1:-postgres}
    shift || true
    PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$TIX_PG_PORT" -U postgres \
        -d "$db" "$@"
}

tix_start_postgres() {
    _tix_need_profile || return 1
    local pidf="$TIX_RUN/pids/postgres.pid" log="$TIX_RUN/log/postgres.log" pid
    if pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_PG"); then
        tix_log "postgres already running (pid $pid, port $TIX_PG_PORT)"
        return 0
    fi
    _tix_dirs || return 1
    _tix_pg_locate # the postgres user may exist only now (fresh install)
    # A server of ours whose pid file was lost (killed script)? Adopt it from postmaster.pid.
    if pid=$(_tix_pidfile_alive "$TIX_PG_DATA/postmaster.pid" "$TIX_PAT_PG"); then
        printf '%s\n' "$pid" >"$pidf"
        tix_log "postgres already running (pid $pid, port $TIX_PG_PORT)"
        return 0
    fi
    _tix_port_free_or_die "$TIX_PG_PORT" postgres || return 1
    if [[ "$TIX_PG_BASE" != "$TIX_RUN" || "$TIX_PG_SOCKET" != "$TIX_RUN"/* ]]; then
        mkdir -p "$TIX_TMP_BASE" && chmod 755 "/tmp/tixmo-$TIX_HASH" "$TIX_TMP_BASE" || return 1
    fi
    if [[ "$TIX_PG_BASE" != "$TIX_RUN" ]]; then
        tix_log "NOTE: user postgres cannot traverse $TIX_RUN; Postgres data goes to $TIX_PG_BASE"
        ln -sfn "$TIX_PG_DATA" "$TIX_RUN/pg"
        # The server writes its own log: keep it beside the data, linked from log/.
        ln -sfn "$TIX_PG_BASE/postgres.log" "$log"
        log="$TIX_PG_BASE/postgres.log"
    fi
    mkdir -p "$TIX_PG_DATA" "$TIX_PG_SOCKET" || return 1
    touch "$log" || return 1
    chmod 700 "$TIX_PG_DATA"
    if _tix_is_root; then
        chown postgres:postgres "$TIX_PG_DATA" "$TIX_PG_SOCKET" "$log" || return 1
    fi
    if [[ ! -s "$TIX_PG_DATA/PG_VERSION" ]]; then
        tix_log "postgres: initdb $TIX_PG_DATA"
        if ! _tix_as_pg "$TIX_PG_BIN/initdb" -D "$TIX_PG_DATA" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C.UTF-8 >"$TIX_RUN/log/initdb.log" 2>&1; then
            tix_err "initdb failed"
            tix_tail "$TIX_RUN/log/initdb.log"
            return 1
        fi
    fi
    local opts="-c listen_addresses=127.0.0.1 -p $TIX_PG_PORT -k '$TIX_PG_SOCKET'"
    opts+=" -c fsync=on -c synchronous_commit=on -c max_connections=200 -c shared_buffers=256MB"
    tix_log "postgres: starting on 127.0.0.1:$TIX_PG_PORT"
    # -w -t 30: pg_ctl waits for the server and notices at once when it dies during startup.
    if ! _tix_as_pg "$TIX_PG_BIN/pg_ctl" -D "$TIX_PG_DATA" -l "$log" -o "$opts" -w -t 30 start \
        >"$TIX_RUN/log/pg_ctl.log" 2>&1; then
        tix_err "postgres did not start (pg_ctl start failed)"
        tix_tail "$TIX_RUN/log/pg_ctl.log" 10
        tix_tail "$log"
        return 1
    fi
    local i
    for ((i = 0; i < 300; i++)); do
        if "$TIX_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$TIX_PG_PORT" -t 1; then
            break
        fi
        sleep 0.1
    done
    if ((i >= 300)); then
        tix_err "postgres did not accept connections on 127.0.0.1:$TIX_PG_PORT within 30s"
        tix_tail "$log"
        return 1
    fi
    if ! pid=$(_tix_pidfile_alive "$TIX_PG_DATA/postmaster.pid" "$TIX_PAT_PG"); then
        tix_err "postgres answers on $TIX_PG_PORT but its postmaster.pid is missing"
        tix_tail "$log"
        return 1
    fi
    printf '%s\n' "$pid" >"$pidf"
    tix_log "postgres: ready (pid $pid)"
    tix_pg_bootstrap
}

# Roles tixmo_owner (owns database tixmo, runs migrations) and tixmo_app (the application),
# and database tixmo: scripts/pg-bootstrap.sql, idempotent. Trust auth: no passwords.
tix_pg_bootstrap() {
    _tix_need_profile || return 1
    _tix_psql_super postgres <"$TIX_ROOT/scripts/pg-bootstrap.sql" || {
        tix_err "postgres: creating roles/database failed (scripts/pg-bootstrap.sql)"
        return 1
    }
}

tix_pg_reset_db() {
    _tix_need_profile || return 1
    tix_log "postgres: drop and recreate database tixmo"
    echo 'DROP DATABASE IF EXISTS tixmo WITH (FORCE);' | _tix_psql_super postgres || {
        tix_err "postgres: dropping database tixmo failed"
        return 1
    }
    tix_pg_bootstrap
}

tix_stop_postgres() {
    _tix_need_profile || return 1
    # SIGINT = "fast" shutdown (SIGTERM would wait for every client to disconnect).
    _tix_stop_pidfile postgres "$TIX_RUN/pids/postgres.pid" "$TIX_PAT_PG" 30 INT || return 1
    local pid
    if pid=$(_tix_pidfile_alive "$TIX_PG_DATA/postmaster.pid" "$TIX_PAT_PG"); then
        tix_log "stopping postgres (pid $pid, from postmaster.pid)"
        _tix_kill "$pid" "$TIX_PAT_PG" 30 INT || return 1
    fi
}

# ---------------------------------------------------------------- redis

tix_start_redis() {
    _tix_need_profile || return 1
    local pidf="$TIX_RUN/pids/redis.pid" log="$TIX_RUN/log/redis.log" pid i
    if pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_REDIS"); then
        tix_log "redis already running (pid $pid, port $TIX_REDIS_PORT)"
        return 0
    fi
    _tix_dirs || return 1
    _tix_port_free_or_die "$TIX_REDIS_PORT" redis || return 1
    mkdir -p "$TIX_RUN/redis" || return 1
    rm -f "$pidf"
    tix_log "redis: starting on 127.0.0.1:$TIX_REDIS_PORT"
    if ! redis-server --port "$TIX_REDIS_PORT" --bind 127.0.0.1 --dir "$TIX_RUN/redis" \
        --daemonize yes --pidfile "$pidf" --logfile "$log" --save '' --appendonly no \
        >>"$TIX_RUN/log/redis-start.log" 2>&1; then
        tix_err "redis-server failed to start"
        tix_tail "$TIX_RUN/log/redis-start.log"
        tix_tail "$log"
        return 1
    fi
    for ((i = 0; i < 100; i++)); do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$TIX_REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
            break
        fi
        sleep 0.1
    done
    if ((i >= 100)); then
        tix_err "redis did not answer PING on 127.0.0.1:$TIX_REDIS_PORT within 10s"
        tix_tail "$log"
        return 1
    fi
    for ((i = 0; i < 50; i++)); do
        pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_REDIS") && break
        sleep 0.1
    done
    if [[ -z "$pid" ]]; then
        tix_err "redis answers on $TIX_REDIS_PORT but wrote no pid file $pidf"
        return 1
    fi
    tix_log "redis: ready (pid $pid)"
}

tix_redis_flush() {
    _tix_need_profile || return 1
    [[ "$(redis-cli -h 127.0.0.1 -p "$TIX_REDIS_PORT" flushall 2>&1)" == OK ]] || {
        tix_err "redis FLUSHALL failed"
        return 1
    }
}

tix_stop_redis() {
    _tix_need_profile || return 1
    _tix_stop_pidfile redis "$TIX_RUN/pids/redis.pid" "$TIX_PAT_REDIS" 15
}

# ---------------------------------------------------------------- rabbitmq

# tix_rabbit_env CMD ARGS...: run CMD with this profile's RabbitMQ/Erlang environment.
tix_rabbit_env() {
    _tix_need_profile || return 1
    env "${TIX_RABBIT_ENV[@]}" "$@"
}

tix_rabbitmqctl() {
    _tix_need_profile || return 1
    # Without an epmd on our port, the CLI would start one of its own and leave it behind.
    if ! _tix_port_busy "$TIX_EPMD_PORT"; then
        tix_err "rabbitmq ($TIX_PROFILE profile) is not running: no epmd on port $TIX_EPMD_PORT"
        return 69
    fi
    tix_rabbit_env "$TIX_RABBIT_BIN/rabbitmqctl" -n "$TIX_RABBIT_NODE" "$@"
}

_tix_rabbit_files() {
    local d="$TIX_RUN/rabbitmq"
    mkdir -p "$d/mnesia" "$TIX_RUN/log/rabbitmq" || return 1
    : >"$d/rabbitmq-env.conf"
    printf '[].\n' >"$d/enabled_plugins"
    # The default guest user stays loopback-only (loopback_users.guest = true by default).
    cat >"$d/rabbitmq.conf" <<EOF
# Generated by scripts/lib.sh for the TixMo $TIX_PROFILE profile; rewritten at every start.
listeners.tcp.default = 127.0.0.1:$TIX_AMQP_PORT
log.console = false
log.file.level = info
disk_free_limit.absolute = 200MB
EOF
    # A channel may have this many commands in flight to one quorum queue before RabbitMQ holds
    # its publisher back (default 32): a gateway thread keeps hundreds in flight to a partition.
    printf '[{rabbit, [{quorum_commands_soft_limit, 1024}]}].\n' >"$d/advanced.config"
}

_tix_start_epmd() {
    local pidf="$TIX_RUN/pids/epmd.pid" pid i
    if pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_EPMD"); then
        return 0
    fi
    if _tix_port_busy "$TIX_EPMD_PORT"; then
        # An epmd left on our profile's port (e.g. started by an earlier rabbitmqctl):
        # a name server, harmless to share; tix_stop_all kills it by port.
        if epmd -port "$TIX_EPMD_PORT" -names >/dev/null 2>&1; then
            tix_log "epmd: reusing the epmd already on port $TIX_EPMD_PORT"
            return 0
        fi
        _tix_port_free_or_die "$TIX_EPMD_PORT" epmd || return 1
    fi
    setsid epmd -port "$TIX_EPMD_PORT" -address 127.0.0.1 \
        >>"$TIX_RUN/log/epmd.log" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$pidf"
    for ((i = 0; i < 50; i++)); do
        _tix_port_busy "$TIX_EPMD_PORT" && return 0
        _tix_pid_alive "$pid" "$TIX_PAT_EPMD" || break
        sleep 0.1
    done
    tix_err "epmd did not start on port $TIX_EPMD_PORT"
    tix_tail "$TIX_RUN/log/epmd.log"
    return 1
}

# Is our node registered with our epmd?
_tix_rabbit_registered() {
    epmd -port "$TIX_EPMD_PORT" -names 2>/dev/null | grep -q "^name tixmo-$TIX_PROFILE at port"
}

tix_start_rabbitmq() {
    _tix_need_profile || return 1
    local pidf="$TIX_RUN/pids/rabbitmq.pid" lpidf="$TIX_RUN/pids/rabbitmq-launcher.pid"
    local log="$TIX_RUN/log/rabbitmq-launcher.log" pid lpid i t0=$SECONDS
    if pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_BEAM"); then
        tix_log "rabbitmq already running (pid $pid, port $TIX_AMQP_PORT)"
        return 0
    fi
    _tix_dirs || return 1
    _tix_port_free_or_die "$TIX_AMQP_PORT" "rabbitmq (AMQP)" || return 1
    _tix_port_free_or_die "$TIX_RABBIT_DIST_PORT" "rabbitmq (Erlang distribution)" || return 1
    _tix_rabbit_files || return 1
    _tix_start_epmd || return 1
    rm -f "$pidf"
    # Once seen (2026-11-21): the launcher exited at once with nothing in any log, and the next
    # start went well; so a launcher that dies before the node registers gets one more try.
    local attempt
    for attempt in 1 2; do
        tix_log "rabbitmq: starting node $TIX_RABBIT_NODE on 127.0.0.1:$TIX_AMQP_PORT"
        # Not /usr/sbin/rabbitmq-server: that wrapper switches to the rabbitmq user.
        # setsid: a Ctrl-C in the terminal that ran scripts/up must not reach the broker.
        (cd "$TIX_RUN/rabbitmq" && exec setsid env "${TIX_RABBIT_ENV[@]}" \
            "$TIX_RABBIT_BIN/rabbitmq-server" >>"$log" 2>&1 </dev/null) &
        lpid=$!
        printf '%s\n' "$lpid" >"$lpidf"
        # 1) wait for the node to register with epmd (cheap to poll), 2) rabbitmqctl
        # await_startup.
        for ((i = 0; i < 600; i++)); do
            _tix_rabbit_registered && break
            _tix_pid_alive "$lpid" || break
            sleep 0.1
        done
        if _tix_rabbit_registered || _tix_pid_alive "$lpid"; then
            break
        fi
        tix_err "rabbitmq-server exited during startup (attempt $attempt)"
        tix_tail "$log"
        tix_tail "$TIX_RUN/log/rabbitmq/$TIX_RABBIT_NODE.log"
        ((attempt == 2)) && return 1
        sleep 1
    done
    local left=$((60 - (SECONDS - t0)))
    if ((i >= 600 || left <= 0)) ||
        ! tix_rabbitmqctl await_startup --timeout "$left" >>"$TIX_RUN/log/rabbitmqctl.log" 2>&1; then
        tix_err "rabbitmq did not start within 60s"
        tix_tail "$TIX_RUN/log/rabbitmqctl.log" 10
        tix_tail "$log"
        tix_tail "$TIX_RUN/log/rabbitmq/$TIX_RABBIT_NODE.log"
        return 1
    fi
    if ! pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_BEAM"); then
        tix_err "rabbitmq started but its pid file $pidf is missing"
        return 1
    fi
    if ! _tix_port_busy "$TIX_AMQP_PORT"; then
        tix_err "rabbitmq started but nothing listens on 127.0.0.1:$TIX_AMQP_PORT"
        tix_tail "$TIX_RUN/log/rabbitmq/$TIX_RABBIT_NODE.log"
        return 1
    fi
    tix_log "rabbitmq: ready (pid $pid, $((SECONDS - t0))s)"
}

# Empty the broker: every queue, exchange and binding goes (users/vhost back to defaults).
tix_rabbit_reset() {
    _tix_need_profile || return 1
    tix_log "rabbitmq: reset"
    {
        tix_rabbitmqctl stop_app && tix_rabbitmqctl reset && tix_rabbitmqctl start_app &&
            tix_rabbitmqctl await_startup --timeout 60
    } >>"$TIX_RUN/log/rabbitmqctl.log" 2>&1 || {
        tix_err "rabbitmq reset failed"
        tix_tail "$TIX_RUN/log/rabbitmqctl.log" 20
        return 1
    }
}

tix_stop_rabbitmq() {
    _tix_need_profile || return 1
    local pidf="$TIX_RUN/pids/rabbitmq.pid" lpidf="$TIX_RUN/pids/rabbitmq-launcher.pid" pid
    if pid=$(_tix_pidfile_alive "$pidf" "$TIX_PAT_BEAM"); then
        tix_log "stopping rabbitmq (pid $pid)"
        # "stop PIDFILE" returns once the Erlang VM has exited.
        if ! tix_rabbitmqctl stop "$pidf" >>"$TIX_RUN/log/rabbitmqctl.log" 2>&1; then
            tix_log "rabbitmqctl stop failed; signalling pid $pid"
        fi
        _tix_kill "$pid" "$TIX_PAT_BEAM" 20 || return 1
    fi
    rm -f "$pidf"
    _tix_stop_pidfile rabbitmq-launcher "$lpidf" rabbitmq-server 10 || return 1
    _tix_stop_pidfile epmd "$TIX_RUN/pids/epmd.pid" "$TIX_PAT_EPMD" 5 || return 1
    # An epmd that Erlang started by itself on our profile's port (no pid file).
    if _tix_port_busy "$TIX_EPMD_PORT" && epmd -port "$TIX_EPMD_PORT" -names >/dev/null 2>&1; then
        tix_log "stopping the epmd on port $TIX_EPMD_PORT"
        epmd -port "$TIX_EPMD_PORT" -kill >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- stand-ins (npm tools)

# _tix_npm_tool NAME FILE: npm ci the package pinned in tools/NAME (package.json +
# package-lock.json) unless FILE, what it installs, is there already; FILE must be there after.
_tix_npm_tool() {
    local name=$1 file=$2 dir="$TIX_ROOT/tools/$1"
    if [[ -f "$file" ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        tix_log "npm is missing: installing Debian's npm"
        _tix_apt_install npm || return 1
    fi
    tix_log "$name: npm ci in tools/$name"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || {
        tix_err "npm ci in $dir failed"
        return 1
    }
    if [[ ! -f "$file" ]]; then
        tix_err "$name installed but $file is missing (version mismatch with" \
            "tools/$name/package.json?)"
        return 1
    fi
}

# _tix_start_standin NAME TOOL PATTERN URL WAIT_S NOTE PORT... -- CMD ARGS...: starts the NAME
# stand-in unless its pid file ($TIX_RUN/pids/NAME.pid) names a live process matching PATTERN:
# tix_ensure_TOOL, refuse if a PORT is taken, run CMD in a session of its own (log
# $TIX_RUN/log/NAME.log), then wait up to WAIT_S seconds for URL to answer. NOTE says where it
# listens. CMD must start with the argument PATTERN recognises this profile's process by.
_tix_start_standin() {
    local name=$1 tool=$2 pat=$3 url=$4 wait_s=$5 note=$6 pid i
    local pidf="$TIX_RUN/pids/$1.pid" log="$TIX_RUN/log/$1.log"
    shift 6
    if pid=$(_tix_pidfile_alive "$pidf" "$pat"); then
        tix_log "$name stand-in already running (pid $pid, $note)"
        return 0
    fi
    "tix_ensure_$tool" || return 1
    _tix_dirs || return 1
    while [[ "$1" != -- ]]; do
        _tix_port_free_or_die "$1" "$name stand-in ($tool)" || return 1
        shift
    done
    shift
    tix_log "$name stand-in: starting $tool, $note"
    setsid "$@" >>"$log" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$pidf"
    for ((i = 0; i < wait_s * 10; i++)); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            tix_log "$name stand-in: ready (pid $pid)"
            return 0
        fi
        if ! _tix_pid_alive "$pid" "$pat"; then
            break
        fi
        sleep 0.1
    done
    tix_err "$tool did not answer on $url within ${wait_s}s"
    tix_tail "$log"
    return 1
}

# _tix_stop_standin NAME PATTERN: stops the NAME stand-in its pid file names.
_tix_stop_standin() {
    _tix_need_profile || return 1
    _tix_stop_pidfile "$1" "$TIX_RUN/pids/$1.pid" "$2" 15
}

# The Stripe stand-in is WireMock's standalone jar, from the npm package pinned in
# tools/wiremock, run by Java 17. Its stubs are tests/stripe/mappings (bodies in
# tests/stripe/__files).
tix_ensure_wiremock() {
    _tix_npm_tool wiremock "$TIX_WIREMOCK_JAR"
}

tix_start_stripe() {
    _tix_need_profile || return 1
    # --port first: TIX_PAT_STRIPE recognises this profile's process by it.
    _tix_start_standin stripe wiremock "$TIX_PAT_STRIPE" \
        "http://127.0.0.1:$TIX_STRIPE_PORT/__admin/health" 60 "port $TIX_STRIPE_PORT" \
        "$TIX_STRIPE_PORT" -- \
        java -Xmx256m -jar "$TIX_WIREMOCK_JAR" --port "$TIX_STRIPE_PORT" \
        --bind-address 127.0.0.1 --root-dir "$TIX_ROOT/tests/stripe" --disable-banner \
        --max-request-journal-entries 10000 --container-threads 16
}

tix_stop_stripe() {
    _tix_stop_standin stripe "$TIX_PAT_STRIPE"
}

# The benchmarks' light Stripe stand-in is nginx with its njs module (tools/stripe-lite); only
# bench/flash_sale.sh uses it, so it is installed when that runs, not with TIX_PACKAGES.
tix_ensure_stripe_lite() {
    local had_nginx=0
    _tix_pkg_installed nginx && had_nginx=1
    _tix_apt_install "${TIX_STRIPE_LITE_PACKAGES[@]}" || return 1
    # Debian's package enables a system nginx on port 80; the stand-in never uses it, so one
    # installed here for the bench is not left to start at the next boot.
    if [[ $had_nginx == 0 ]] && command -v systemctl >/dev/null; then
        systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
    if [[ ! -f $TIX_NGINX_JS_MODULE ]]; then
        tix_err "libnginx-mod-http-js installed but $TIX_NGINX_JS_MODULE is missing"
        return 1
    fi
}

# The SMTP stand-in is MailDev, from the npm package pinned in tools/maildev, run by node: SMTP
# on TIX_SMTP_PORT, its REST API (GET /email: the mails caught, attachments included) on
# TIX_MAILDEV_PORT. It keeps mails in memory only.
tix_ensure_maildev() {
    _tix_npm_tool maildev "$TIX_MAILDEV_BIN"
}

tix_start_mail() {
    _tix_need_profile || return 1
    # --smtp first: TIX_PAT_MAIL recognises this profile's process by it.
    _tix_start_standin mail maildev "$TIX_PAT_MAIL" "http://127.0.0.1:$TIX_MAILDEV_PORT/email" 30 \
        "smtp port $TIX_SMTP_PORT, api port $TIX_MAILDEV_PORT" "$TIX_SMTP_PORT" \
        "$TIX_MAILDEV_PORT" -- \
        node "$TIX_MAILDEV_BIN" --smtp "$TIX_SMTP_PORT" --web "$TIX_MAILDEV_PORT" \
        --ip 127.0.0.1 --web-ip 127.0.0.1
}

tix_stop_mail() {
    _tix_stop_standin mail "$TIX_PAT_MAIL"
}

# ---------------------------------------------------------------- all services

# Our ports sit in Linux's ephemeral range (32768-60999): an outgoing connection may take one as
# its source port (or leave it in TIME-WAIT) and a server then fails to listen on it. Where we
# may (root), add this profile's ports to net.ipv4.ip_local_reserved_ports, which only stops
# the kernel from picking them as source ports; elsewhere a clash stays possible but rare.
_tix_reserve_ports() {
    local f=/proc/sys/net/ipv4/ip_local_reserved_ports
    [[ -w $f ]] || return 0
    local mine="$TIX_PG_PORT,$TIX_REDIS_PORT,$TIX_AMQP_PORT,$TIX_RABBIT_DIST_PORT,$TIX_EPMD_PORT"
    mine+=",$TIX_HTTP_PORT,$TIX_STRIPE_PORT,$TIX_RABBIT_CTL_PORT_MIN-$TIX_RABBIT_CTL_PORT_MAX"
    mine+=",$TIX_SMTP_PORT,$TIX_MAILDEV_PORT"
    mine+=",$((TIX_HTTP_PORT + 11))-$((TIX_HTTP_PORT + 13))" # benchmarks' own servers
    local now
    now=$(cat "$f")
    echo "${now:+$now,}$mine" >"$f" 2>/dev/null || true
}

tix_start_services() {
    _tix_need_profile || return 1
    _tix_dirs || return 1
    _tix_reserve_ports
    tix_write_env || return 1
    tix_start_postgres || return 1
    tix_start_redis || return 1
    tix_start_rabbitmq || return 1
    tix_start_stripe || return 1
    tix_start_mail || return 1
}

# ---------------------------------------------------------------- TixMo processes

# tix_pg_functions [DB]: declares TixMo's functions inside Postgres in database DB (default
# tixmo): scripts/pg-functions.sql, with the normal build's module pg/tixmo_pg.so (the ASan
# build has none: the server is not sanitized). Only the superuser may declare C functions.
tix_pg_functions() {
    local db=${1:-tixmo} lib="$TIX_ROOT/build/pg/tixmo_pg.so"
    if [[ ! -f "$lib" ]]; then
        tix_err "pg functions: $lib does not exist (build the normal preset first)"
        return 1
    fi
    _tix_psql_super "$db" -v lib="$lib" <"$TIX_ROOT/scripts/pg-functions.sql" || {
        tix_err "pg functions: scripts/pg-functions.sql failed on database $db"
        return 1
    }
}

# tix_migrate [BIN_DIR]: the functions inside Postgres, then BIN_DIR/tixmo migrate.
tix_migrate() {
    local bin="${1:-$TIXMO_BIN_DIR}/tixmo"
    if [[ ! -x "$bin" ]]; then
        tix_err "migrate: $bin does not exist (build first)"
        return 1
    fi
    tix_pg_functions tixmo || return 1
    tix_log "migrate: $bin migrate"
    "$bin" migrate || {
        tix_err "migrate failed ($bin migrate)"
        return 1
    }
}

# tix_start_proc NAME [ARGS...]: start $TIXMO_BIN_DIR/NAME in the background;
# pid in $TIX_RUN/pids/NAME.pid, output in $TIX_RUN/log/NAME.log. No-op if it runs.
tix_start_proc() {
    _tix_need_profile || return 1
    local name=$1
    shift
    local bin="$TIXMO_BIN_DIR/$name" pidf="$TIX_RUN/pids/$name.pid" log="$TIX_RUN/log/$name.log"
    local pid i
    if pid=$(_tix_pidfile_alive "$pidf" "$name"); then
        tix_log "$name already running (pid $pid)"
        if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *" (deleted)" ]]; then
            tix_log "NOTE: $name (pid $pid) runs an older build; scripts/down then scripts/up restarts it"
        fi
        return 0
    fi
    if [[ ! -x "$bin" ]]; then
        tix_err "$bin does not exist"
        return 1
    fi
    _tix_dirs || return 1
    printf '==== %s start %s\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
    setsid "$bin" "$@" >>"$log" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$pidf"
    # A process that dies at once (bad config, no broker) should fail loudly here.
    for ((i = 0; i < 10; i++)); do
        sleep 0.1
        if ! _tix_pid_alive "$pid" "$name"; then
            tix_err "$name exited right after start"
            tix_tail "$log"
            rm -f "$pidf"
            return 1
        fi
    done
    tix_log "$name: running (pid $pid, log $log)"
}

tix_stop_tixmo() {
    _tix_need_profile || return 1
    local f name rc=0
    for f in "$TIX_RUN"/pids/tixmo*.pid; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f" .pid)
        _tix_stop_pidfile "$name" "$f" "$name" 15 || rc=1
    done
    return "$rc"
}

tix_stop_all() {
    _tix_need_profile || return 1
    [[ -d "$TIX_RUN" ]] || return 0
    local rc=0
    tix_stop_tixmo || rc=1
    tix_stop_stripe || rc=1
    tix_stop_mail || rc=1
    tix_stop_rabbitmq || rc=1
    tix_stop_redis || rc=1
    tix_stop_postgres || rc=1
    return "$rc"
}

# tix_stop_strays: stop this profile's servers that no pid file knows about (a pid folder
# deleted by hand, another checkout's run on the same ports). Recognised by command line:
# each profile has its own ports, so nothing else matches.
tix_stop_strays() {
    _tix_need_profile || return 1
    local f pid cmd rc=0 epmds=()
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        cmd="$(tr '\0' ' ' 2>/dev/null <"$f")" || continue
        case "$cmd" in
        */bin/postgres\ -D\ *" -p $TIX_PG_PORT "*)
            tix_log "stopping stray postgres (pid $pid)"
            _tix_kill "$pid" postgres 30 INT || rc=1
            ;;
        "redis-server 127.0.0.1:$TIX_REDIS_PORT"*)
            tix_log "stopping stray redis (pid $pid)"
            _tix_kill "$pid" redis-server 15 || rc=1
            ;;
        */beam.smp\ *" -epmd_port $TIX_EPMD_PORT "*)
            tix_log "stopping stray rabbitmq (pid $pid)"
            _tix_kill "$pid" beam 20 || rc=1
            ;;
        "epmd -port $TIX_EPMD_PORT "*)
            epmds+=("$pid") # after the broker
            ;;
        java\ *"$TIX_PAT_STRIPE"*)
            tix_log "stopping stray stripe stand-in (pid $pid)"
            _tix_kill "$pid" "$TIX_PAT_STRIPE" 15 || rc=1
            ;;
        node\ *"$TIX_PAT_MAIL"*)
            tix_log "stopping stray mail stand-in (pid $pid)"
            _tix_kill "$pid" "$TIX_PAT_MAIL" 15 || rc=1
            ;;
        esac
    done
    for pid in ${epmds[@]+"${epmds[@]}"}; do
        tix_log "stopping stray epmd (pid $pid)"
        _tix_kill "$pid" "$TIX_PAT_EPMD" 5 || rc=1
    done
    if _tix_port_busy "$TIX_EPMD_PORT" && epmd -port "$TIX_EPMD_PORT" -names >/dev/null 2>&1; then
        epmd -port "$TIX_EPMD_PORT" -kill >/dev/null 2>&1 || true
    fi
    return "$rc"
}

tix_wipe_profile() {
    _tix_need_profile || return 1
    tix_log "deleting $TIX_RUN"
    rm -rf "$TIX_RUN" "$TIX_TMP_BASE"
    rmdir "/tmp/tixmo-$TIX_HASH" 2>/dev/null || true
}

tix_status() {
    _tix_need_profile || return 1
    local pid f name
    _tix_status_line() {
        if pid=$(_tix_pidfile_alive "$2" "$3"); then
            printf '  %-18s running  pid %-8s %s\n' "$1" "$pid" "$4"
        else
            printf '  %-18s stopped\n' "$1"
        fi
    }
    _tix_status_line postgres "$TIX_RUN/pids/postgres.pid" "$TIX_PAT_PG" "127.0.0.1:$TIX_PG_PORT"
    _tix_status_line redis "$TIX_RUN/pids/redis.pid" "$TIX_PAT_REDIS" "127.0.0.1:$TIX_REDIS_PORT"
    _tix_status_line rabbitmq "$TIX_RUN/pids/rabbitmq.pid" "$TIX_PAT_BEAM" "127.0.0.1:$TIX_AMQP_PORT ($TIX_RABBIT_NODE)"
    _tix_status_line stripe "$TIX_RUN/pids/stripe.pid" "$TIX_PAT_STRIPE" "127.0.0.1:$TIX_STRIPE_PORT (wiremock)"
    _tix_status_line mail "$TIX_RUN/pids/mail.pid" "$TIX_PAT_MAIL" "smtp 127.0.0.1:$TIX_SMTP_PORT, api $TIX_MAILDEV_URL (maildev)"
    for f in "$TIX_RUN"/pids/tixmo*.pid; do
        [[ -e "$f" ]] || continue
        name=$(basename "$f" .pid)
        _tix_status_line "$name" "$f" "$name" "log $TIX_RUN/log/$name.log"
    done
}
