#!/usr/bin/env bash
# The real servers the test suite talks to, on loopback: PostgreSQL for the catalogue,
# and a single-node OpenStack Swift (Swift API and S3 API) for the object stores.
#
#   scripts/services.sh start    install (as root, with apt) and start them; idempotent
#   scripts/services.sh stop     stop the Swift, Keystone and Ceph servers this script started
#   scripts/services.sh status   say what is running
#   scripts/services.sh start ceph, stop ceph   that one only (as for postgres, swift, keystone)
#
# PostgreSQL: the Debian cluster (15 on Debian 12) on 127.0.0.1:5432, with a role
# `lading` (password `lading`, may create databases) that the tests use to make and drop
# a database of their own. LADING_TEST_POSTGRES_URL points the tests elsewhere.
#
# Swift: proxy on 127.0.0.1:8080 with tempauth (account `test`, user `tester`, key
# `testing`) and s3api (access key `test:tester`, secret `testing`, region us-east-1,
# path-style). Servers run from Debian's packages with our own configuration in
# /etc/swift; data, pids and logs go under $LADING_SERVICES_DIR.
#
# Keystone: PyPI's keystone (30.x) in a venv of its own under $LADING_SERVICES_DIR, on
# SQLite with fernet tokens, served by gunicorn on 127.0.0.1:5000 (identity v3 at
# http://127.0.0.1:5000/v3, region RegionOne). Users, all in domain Default:
#   admin / keystone-admin        admin of project admin, and of the system
#   lading / lading               roles service and admin on project service (as
#                                 Glance's service users have): lading signs in as it
#   {alpha,beta}-{member,reader} / lading-test   member or reader of project alpha or beta
# Installing takes about 35 s; the first start, with the database made, about 20 s more.
#
# Ceph: Debian's ceph-mon and ceph-osd (16.2, Pacific), one monitor on 127.0.0.1:3300
# (msgr2) and one OSD on memstore (in memory, saved to its directory when it stops; up to
# 2 GiB), no manager (RBD needs none; without one the cluster keeps no pool statistics, so
# pool quotas are not enforced), with a pool `images` initialised for RBD. Users:
# client.admin and client.lading (Glance's caps: profile rbd, on pool images), keyrings
# beside $SERVICES_DIR/ceph/ceph.conf, which is the configuration file clients read.
# Installing takes about 50 s; a first start about 2 s, a later one under 1 s; a stop about
# 4 s (the OSD saves memstore). At rest the two daemons hold ~75 MB and use no CPU.
set -euo pipefail

SERVICES_DIR=${LADING_SERVICES_DIR:-/tmp/lading-services}
SWIFT_DATA=$SERVICES_DIR/swift/node
SWIFT_RUN=$SERVICES_DIR/swift/run
SWIFT_LOG=$SERVICES_DIR/swift/log
SWIFT_PACKAGES="swift swift-proxy swift-account swift-container swift-object memcached"
declare -A PORT=([proxy]=8080 [object]=6200 [container]=6201 [account]=6202 [memcached]=11211)

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

installed() {  # every Debian package named
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || return 1
    done
}

install_packages() {  # what: a name for the log; then the packages
    local what=$1
    shift
    installed "$@" && return
    [ "$(id -u)" = 0 ] || { log "$what is not installed and we are not root"; return 1; }
    log "installing $what from Debian's packages"
    # Keep the packages' own services from starting on our ports during the install.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "$@" >/dev/null || { rm -f /usr/sbin/policy-rc.d; return 1; }
    rm -f /usr/sbin/policy-rc.d
}

swift_configure() {
    mkdir -p /etc/swift "$SWIFT_DATA/d1" "$SWIFT_RUN" "$SWIFT_LOG"
    chown -R swift:swift "$SWIFT_DATA"
    chmod 755 "$SERVICES_DIR" "$SERVICES_DIR/swift"
    [ -s /etc/swift/.lading ] && return  # ours already: keep the rings and hash secret
    log "writing /etc/swift"
    local secret server filter
    secret=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
    printf '[swift-hash]\nswift_hash_path_suffix = %s\n\n[storage-policy:0]\nname = gold\ndefault = yes\n' \
        "$secret" > /etc/swift/swift.conf
    for server in account container object; do
        cat > "/etc/swift/$server-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${PORT[$server]}
user = swift
devices = $SWIFT_DATA
mount_check = false
disable_fallocate = true
workers = 1

[pipeline:main]
pipeline = healthcheck $server-server

[app:$server-server]
use = egg:swift#$server

[filter:healthcheck]
use = egg:swift#healthcheck
CONF
    done
    # s3api before tempauth (it turns S3 signatures into tempauth identities) and slo
    # after s3api (S3 multipart uploads become static large objects).
    cat > /etc/swift/proxy-server.conf <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${PORT[proxy]}
user = swift
workers = 2

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${PORT[memcached]}
CONF
    # The plain middlewares: each named as its egg entry point
    for filter in catch_errors gatekeeper healthcheck proxy-logging listing_formats copy slo dlo; do
        printf '\n[filter:%s]\nuse = egg:swift#%s\n' "$filter" "${filter//-/_}"
    done >> /etc/swift/proxy-server.conf
    printf '[memcache]\nmemcache_servers = 127.0.0.1:%s\n' "${PORT[memcached]}" > /etc/swift/memcache.conf
    (
        cd /etc/swift
        for server in account container object; do
            rm -f "$server.builder" "$server.ring.gz"
            swift-ring-builder "$server.builder" create 8 1 1 >/dev/null
            swift-ring-builder "$server.builder" add "r1z1-127.0.0.1:${PORT[$server]}/d1" 100 >/dev/null
            swift-ring-builder "$server.builder" rebalance >/dev/null || [ $? = 1 ]  # 1: a warning
        done
    )
    chown -R root:swift /etc/swift
    echo "written by lading scripts/services.sh" > /etc/swift/.lading
}

swift_running() { [ -s "$SWIFT_RUN/$1.pid" ] && kill -0 "$(cat "$SWIFT_RUN/$1.pid")" 2>/dev/null; }

swift_launch() {  # name, command...
    local name=$1
    shift
    swift_running "$name" && return
    setsid "$@" >>"$SWIFT_LOG/$name.log" 2>&1 </dev/null &
    echo $! > "$SWIFT_RUN/$name.pid"
}

swift_start() {
    install_packages Swift $SWIFT_PACKAGES
    swift_configure
    # memcached: tempauth keeps its tokens there.
    swift_launch memcached /usr/bin/memcached -u memcache -l 127.0.0.1 -p "${PORT[memcached]}" -U 0 -m 64
    local server tries
    for server in account container object; do
        swift_launch "$server" "/usr/bin/swift-$server-server" "/etc/swift/$server-server.conf" -v
    done
    swift_launch proxy /usr/bin/swift-proxy-server /etc/swift/proxy-server.conf -v
    for server in account container object proxy; do
        tries=0
        until curl -sf -o /dev/null "http://127.0.0.1:${PORT[$server]}/healthcheck"; do
            tries=$((tries + 1))
            if [ $tries -gt 300 ]; then
                tail -n 20 "$SWIFT_LOG/$server.log" >&2
                log "Swift $server did not come up"
                return 1
            fi
            sleep 0.1
        done
    done
    log "Swift ready: http://127.0.0.1:${PORT[proxy]} (tempauth test:tester/testing, S3 too)"
}

swift_stop() {
    local name
    for name in proxy object container account memcached; do
        if swift_running "$name"; then
            kill -TERM -- "-$(cat "$SWIFT_RUN/$name.pid")" 2>/dev/null || true
        fi
        rm -f "$SWIFT_RUN/$name.pid"
    done
}

KEYSTONE_DIR=$SERVICES_DIR/keystone
KEYSTONE_PORT=${LADING_KEYSTONE_PORT:-5000}
KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT/v3
KEYSTONE_VERSION="keystone==30.*"

keystone_running() {
    [ -s "$KEYSTONE_DIR/gunicorn.pid" ] && kill -0 "$(cat "$KEYSTONE_DIR/gunicorn.pid")" 2>/dev/null
}

keystone_install() {
    [ -x "$KEYSTONE_DIR/venv/bin/keystone-manage" ] && [ -x "$KEYSTONE_DIR/venv/bin/gunicorn" ] \
        && return
    log "installing Keystone from PyPI ($KEYSTONE_VERSION, gunicorn) into $KEYSTONE_DIR/venv"
    mkdir -p "$KEYSTONE_DIR"
    python3 -m venv "$KEYSTONE_DIR/venv"
    "$KEYSTONE_DIR/venv/bin/pip" install -q --disable-pip-version-check \
        "$KEYSTONE_VERSION" gunicorn >"$KEYSTONE_DIR/install.log" 2>&1 \
        || { tail -n 20 "$KEYSTONE_DIR/install.log" >&2; return 1; }
}

keystone_configure() {
    local conf=$KEYSTONE_DIR/keystone.conf manage
    mkdir -p "$KEYSTONE_DIR/log"
    [ -s "$KEYSTONE_DIR/.bootstrapped" ] && return
    log "configuring Keystone (SQLite, fernet) in $KEYSTONE_DIR"
    cat > "$conf" <<CONF
[DEFAULT]
log_file = $KEYSTONE_DIR/log/keystone.log

[database]
connection = sqlite:///$KEYSTONE_DIR/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys

[fernet_receipts]
key_repository = $KEYSTONE_DIR/fernet-receipts

[credential]
key_repository = $KEYSTONE_DIR/credential-keys
CONF
    manage=("$KEYSTONE_DIR/venv/bin/keystone-manage" --config-file "$conf")
    "${manage[@]}" db_sync
    "${manage[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
    "${manage[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
    "${manage[@]}" bootstrap --bootstrap-password keystone-admin \
        --bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-internal-url "$KEYSTONE_URL" \
        --bootstrap-public-url "$KEYSTONE_URL" --bootstrap-region-id RegionOne
}

keystone_users() {  # the service user and the two projects' users, through the API
    "$KEYSTONE_DIR/venv/bin/python" - "$KEYSTONE_URL" <<'PY'
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3

url = sys.argv[1]
admin = session.Session(auth=v3.Password(
    auth_url=url, username="admin", password="keystone-admin", project_name="admin",
    user_domain_name="Default", project_domain_name="Default"))


def get(path, key, name):
    found = admin.get(url + path, params={"name": name}).json()[key]
    return found[0]["id"] if found else None


def ensure(path, key, name, body):
    existing = get(path, key, name)
    if existing:
        return existing
    return admin.post(url + path, json={key[:-1]: {"name": name, **body}}).json()[key[:-1]]["id"]


roles = {name: ensure("/roles", "roles", name, {}) for name in ("admin", "member", "reader", "service")}
projects = {
    name: ensure("/projects", "projects", name, {"domain_id": "default"})
    for name in ("service", "alpha", "beta")
}
grants = [("lading", "lading", "service", ["service", "admin"])]
for project in ("alpha", "beta"):
    grants += [(f"{project}-{role}", "lading-test", project, [role]) for role in ("member", "reader")]
for user, password, project, granted in grants:
    user_id = ensure("/users", "users", user, {"domain_id": "default", "password": password})
    for role in granted:
        admin.put(f"{url}/projects/{projects[project]}/users/{user_id}/roles/{roles[role]}")
# The admin on domain Default too: the tests' domain-scoped token
admin_id = get("/users", "users", "admin")
admin.put(f"{url}/domains/default/users/{admin_id}/roles/{roles['admin']}")
PY
}

keystone_start() {
    keystone_install || return 1
    keystone_configure || return 1
    if ! keystone_running; then
        # Keystone's app reads its options from sys.argv (oslo.config): gunicorn's own
        # arguments would be refused there, so the app module clears them first.
        printf 'import sys\n\nsys.argv[1:] = []\nfrom keystone.wsgi.api import application  # noqa: E402\n' \
            > "$KEYSTONE_DIR/lading_keystone_wsgi.py"
        # One request at a time: SQLite takes one writer, and under Tempest's parallel
        # making and deleting of users, four threads met "database is locked" (a 500).
        OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_DIR/keystone.conf setsid \
            "$KEYSTONE_DIR/venv/bin/gunicorn" --bind "127.0.0.1:$KEYSTONE_PORT" --workers 1 \
            --threads 1 --pid "$KEYSTONE_DIR/gunicorn.pid" --chdir "$KEYSTONE_DIR" \
            lading_keystone_wsgi:application >>"$KEYSTONE_DIR/log/gunicorn.log" 2>&1 </dev/null &
    fi
    local tries=0
    until curl -sf -o /dev/null "$KEYSTONE_URL"; do
        tries=$((tries + 1))
        if [ $tries -gt 600 ]; then
            tail -n 20 "$KEYSTONE_DIR/log/gunicorn.log" >&2
            log "Keystone did not come up"
            return 1
        fi
        sleep 0.1
    done
    keystone_users || return 1  # idempotent: what exists is kept
    echo "bootstrapped by lading scripts/services.sh" > "$KEYSTONE_DIR/.bootstrapped"
    log "Keystone ready: $KEYSTONE_URL (admin/keystone-admin, lading/lading in project service)"
}

keystone_stop() {
    if keystone_running; then
        kill -TERM "$(cat "$KEYSTONE_DIR/gunicorn.pid")" 2>/dev/null || true
    fi
}

CEPH_DIR=$SERVICES_DIR/ceph
CEPH_CONF=$CEPH_DIR/ceph.conf
CEPH_PACKAGES="ceph-mon ceph-osd python3-rados python3-rbd"
CEPH_POOL=images


ceph_running() {  # mon.a or osd.0: its own pid file, written when it daemonises
    [ -s "$CEPH_DIR/run/$1.pid" ] && kill -0 "$(cat "$CEPH_DIR/run/$1.pid")" 2>/dev/null
}

ceph_cli() { ceph -c "$CEPH_CONF" --connect-timeout 10 "$@"; }

ceph_configure() {  # a new cluster: fsid, monitor, keys; the OSD comes after the monitor
    [ -s "$CEPH_DIR/.bootstrapped" ] && return
    log "making a single-node Ceph in $CEPH_DIR"
    ceph_stop  # what a cut-off attempt left running goes with its directory
    rm -rf "$CEPH_DIR"
    mkdir -p "$CEPH_DIR"/{mon,osd,run,log}
    local fsid
    fsid=$(uuidgen)
    # memstore keeps the OSD's data in memory, and in its directory when it stops (a
    # fast shutdown would skip that). One PG set, no replicas: one OSD.
    cat > "$CEPH_CONF" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:3300
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $CEPH_DIR/ceph.\$name.keyring
run dir = $CEPH_DIR/run
pid file = $CEPH_DIR/run/\$name.pid
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $CEPH_DIR/mon/\$name
mon cluster log file = $CEPH_DIR/log/cluster.log
# Snapshots change the OSD map through the monitor, which commits at most once a second by
# default: each RBD snapshot taken or removed waited up to that (0.3 to 1 s), 20 ms now.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = $CEPH_DIR/osd/\$name
keyring = $CEPH_DIR/osd/\$name/keyring
osd objectstore = memstore
memstore device bytes = 2147483648
# Pages of 1 MiB, which malloc maps apart (see ceph_start), so that what is deleted goes
# back to the system: with 64 KiB pages the OSD kept 1.2 GB after a benchmark, now 55 MB.
memstore page size = 1048576
osd fast shutdown = false
osd op num shards = 1
osd op num threads per shard = 2
CONF
    ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. \
        --cap mon 'allow *' >/dev/null || return 1
    ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key \
        -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null || return 1
    ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_DIR/ceph.client.admin.keyring" \
        >/dev/null || return 1
    monmaptool --create --addv a '[v2:127.0.0.1:3300]' --fsid "$fsid" "$CEPH_DIR/monmap" >/dev/null || return 1
    ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
        --keyring "$CEPH_DIR/mon.keyring" >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
}

ceph_osd_make() {  # with the monitor up: osd.0 registered, its store made and its key added
    [ -s "$CEPH_DIR/osd/osd.0/whoami" ] && return
    local uuid id
    uuid=$(uuidgen)
    id=$(ceph_cli osd new "$uuid") || return 1
    [ "$id" = 0 ] || { log "the new OSD is osd.$id, not osd.0"; return 1; }
    mkdir -p "$CEPH_DIR/osd/osd.0"
    # No configuration from the monitor: the OSD has no key there yet.
    ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --mkkey --no-mon-config --osd-uuid "$uuid" \
        >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
    ceph_cli auth add osd.0 osd 'allow *' mon 'allow profile osd' \
        -i "$CEPH_DIR/osd/osd.0/keyring" >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
}

ceph_pool_make() {  # the pool and lading's user, as Glance's deployment guides make them
    [ -s "$CEPH_DIR/.bootstrapped" ] && return
    ceph_cli osd pool create "$CEPH_POOL" 8 >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
    rbd -c "$CEPH_CONF" pool init "$CEPH_POOL" || return 1
    ceph_cli auth get-or-create client.lading mon 'profile rbd' \
        osd "profile rbd pool=$CEPH_POOL" -o "$CEPH_DIR/ceph.client.lading.keyring" || return 1
    echo "bootstrapped by lading scripts/services.sh" > "$CEPH_DIR/.bootstrapped"
}

ceph_start() {
    install_packages Ceph $CEPH_PACKAGES || return 1
    ceph_configure || return 1
    if ! ceph_running mon.a; then
        ceph-mon -c "$CEPH_CONF" -i a >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
    fi
    ceph_osd_make || return 1
    if ! ceph_running osd.0; then
        MALLOC_MMAP_THRESHOLD_=524288 ceph-osd -c "$CEPH_CONF" -i 0 \
            >>"$CEPH_DIR/log/setup.log" 2>&1 || return 1
    fi
    local tries=0
    until ceph_cli osd stat 2>/dev/null | grep -q '1 up'; do
        tries=$((tries + 1))
        if [ $tries -gt 300 ]; then
            tail -n 20 "$CEPH_DIR/log/osd.0.log" >&2
            log "Ceph's OSD did not come up"
            return 1
        fi
        sleep 0.1
    done
    ceph_pool_make || return 1
    # The pool answers once its PGs are active: a first listing waits for that.
    timeout 60 rbd -c "$CEPH_CONF" ls "$CEPH_POOL" >/dev/null \
        || { log "Ceph's pool $CEPH_POOL does not answer"; return 1; }
    log "Ceph ready: $CEPH_CONF (pool $CEPH_POOL, users admin and lading)"
}

ceph_stop() {
    # The OSD first, and waited for: it saves memstore's data as it stops, and tells the
    # monitor, which would otherwise keep it waiting 5 s.
    local name pid tries
    for name in osd.0 mon.a; do
        ceph_running "$name" || continue
        pid=$(cat "$CEPH_DIR/run/$name.pid")
        kill -TERM "$pid" 2>/dev/null || true
        tries=0
        while kill -0 "$pid" 2>/dev/null && [ $tries -lt 300 ]; do
            tries=$((tries + 1))
            sleep 0.1
        done
    done
}

SERVICES=${2:-postgres swift keystone ceph}
wanted() { [[ " $SERVICES " == *" $1 "* ]]; }

case "${1:-start}" in
    start)
        status=0
        if wanted postgres; then postgres_start || status=1; fi
        if wanted swift; then swift_start || status=1; fi
        if wanted keystone; then keystone_start || status=1; fi
        if wanted ceph; then ceph_start || status=1; fi
        exit $status
        ;;
    stop)
        # PostgreSQL is Debian's cluster, left to its own service.
        if wanted swift; then swift_stop; fi
        if wanted keystone; then keystone_stop; fi
        if wanted ceph; then ceph_stop; fi
        ;;
    status)
        pg_lsclusters
        for name in memcached account container object proxy; do
            if swift_running "$name"; then echo "swift $name: running"; else echo "swift $name: stopped"; fi
        done
        if keystone_running; then echo "keystone: running"; else echo "keystone: stopped"; fi
        for name in mon.a osd.0; do
            if ceph_running "$name"; then echo "ceph $name: running"; else echo "ceph $name: stopped"; fi
        done
        ;;
    *) echo "usage: $0 start|stop|status [postgres|swift|keystone|ceph]" >&2; exit 2 ;;
esac
