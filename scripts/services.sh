#!/usr/bin/env bash
# The real servers the test suite talks to, on loopback: PostgreSQL for the catalogue.
#
#   scripts/services.sh start    install (as root, with apt) and start them; idempotent
#   scripts/services.sh status   say what is running
#
# PostgreSQL: the Debian cluster (15 on Debian 12) on 127.0.0.1:5432, with a role
# `lading` (password `lading`, may create databases) that the tests use to make and drop
# a database of their own. LADING_TEST_POSTGRES_URL points the tests elsewhere.
set -euo pipefail

log() { printf '[services] %s\n' "$*"; }

postgres_start() {
    if ! command -v pg_lsclusters >/dev/null; then
        [ "$(id -u)" = 0 ] || { log "PostgreSQL is not installed and we are not root"; return 1; }
        log "installing PostgreSQL"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local version cluster
    read -r version cluster _ < <(pg_lsclusters --no-header | head -n 1)
    if [ -z "${version:-}" ]; then
        log "no PostgreSQL cluster exists"
        return 1
    fi
    if ! pg_lsclusters --no-header | grep -q online; then
        log "starting PostgreSQL $version/$cluster"
        pg_ctlcluster "$version" "$cluster" start
    fi
    as_postgres psql -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lading') THEN
        CREATE ROLE lading LOGIN PASSWORD 'lading' CREATEDB;
    END IF;
END
$$;
SQL
    log "PostgreSQL ready: postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -c "$(printf '%q ' "$@")"
    else
        sudo -u postgres "$@"
    fi
}

case "${1:-start}" in
    start) postgres_start ;;
    status) pg_lsclusters ;;
    *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
