# Sourced by .ci/test: a throwaway PostgreSQL cluster on 127.0.0.1 for the tests.
#
# Installs Debian's `postgresql` package if no server is installed, creates a cluster in a
# temporary directory with a self-signed certificate, starts it on a free port with TLS on (as
# the `postgres` user when run as root, since PostgreSQL refuses to run as root), exports
# LOCKBOX_POSTGRES_URL and LOCKBOX_POSTGRES_CA (the certificate) for the tests and
# LOCKBOX_POSTGRES_RESTART (a script that restarts the server, cutting every open session, for
# tests/postgres_restart.rs), and stops and removes it when the calling script exits, whatever
# the outcome.

postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop_postgres() {
    if [ -n "${LOCKBOX_PG_DIR:-}" ] && [ -d "$LOCKBOX_PG_DIR" ]; then
        as_postgres "$(postgres_bin)/pg_ctl" -D "$LOCKBOX_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$LOCKBOX_PG_DIR"
    fi
}

free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

start_postgres() {
    if [ -z "$(postgres_bin)" ]; then
        echo "== installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    local bin port
    bin="$(postgres_bin)"
    port="$(free_port)"
    LOCKBOX_PG_DIR="$(mktemp -d /tmp/lockbox-pg.XXXXXX)"
    trap stop_postgres EXIT
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$LOCKBOX_PG_DIR"
    fi
    as_postgres "$bin/initdb" -D "$LOCKBOX_PG_DIR/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
    # A certificate of its own, from a CA of its own (OpenSSL's command comes with Debian's
    # PostgreSQL, through ssl-cert), so the TLS test connects with `sslmode=require` and checks
    # the server against the CA.
    local ssl="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    openssl req -x509 $ssl -days 2 -subj /CN=lockbox-test-ca \
        -keyout "$LOCKBOX_PG_DIR/ca.key" -out "$LOCKBOX_PG_DIR/ca.crt" 2>/dev/null
    openssl req $ssl -subj /CN=localhost \
        -keyout "$LOCKBOX_PG_DIR/server.key" -out "$LOCKBOX_PG_DIR/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' \
        >"$LOCKBOX_PG_DIR/server.ext"
    openssl x509 -req -in "$LOCKBOX_PG_DIR/server.csr" -days 2 -CA "$LOCKBOX_PG_DIR/ca.crt" \
        -CAkey "$LOCKBOX_PG_DIR/ca.key" -CAcreateserial -extfile "$LOCKBOX_PG_DIR/server.ext" \
        -out "$LOCKBOX_PG_DIR/server.crt" 2>/dev/null
    chmod 600 "$LOCKBOX_PG_DIR/server.key"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$LOCKBOX_PG_DIR/server.key" "$LOCKBOX_PG_DIR/server.crt"
    fi
    as_postgres "$bin/pg_ctl" -D "$LOCKBOX_PG_DIR/data" -l "$LOCKBOX_PG_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $LOCKBOX_PG_DIR -c max_connections=200 -c ssl=on -c ssl_cert_file=$LOCKBOX_PG_DIR/server.crt -c ssl_key_file=$LOCKBOX_PG_DIR/server.key" start >/dev/null
    export LOCKBOX_POSTGRES_URL="host=127.0.0.1 port=$port user=postgres dbname=postgres"
    export LOCKBOX_POSTGRES_CA="$LOCKBOX_PG_DIR/ca.crt"
    local as_user=""
    if [ "$(id -u)" = 0 ]; then
        as_user="runuser -u postgres --"
    fi
    cat >"$LOCKBOX_PG_DIR/restart" <<EOF
#!/usr/bin/env bash
# Restarts the throwaway server in fast mode: open sessions are cut, the options kept.
set -euo pipefail
$as_user "$bin/pg_ctl" -D "$LOCKBOX_PG_DIR/data" -l "$LOCKBOX_PG_DIR/server.log" -m fast -w restart >/dev/null
EOF
    chmod +x "$LOCKBOX_PG_DIR/restart"
    export LOCKBOX_POSTGRES_RESTART="$LOCKBOX_PG_DIR/restart"
    echo "== PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}
