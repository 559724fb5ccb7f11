#!/usr/bin/env bash
# A net-snmp agent for the network crate's tests, on 127.0.0.1:16100/udp with a private
# configuration: v2c read community "opsdesk-read", v2c write community "opsdesk-write"
# (localhost only), and the v3 user "opsdesk" with authPriv (SHA / AES). ifOperStatus of the
# loopback interface (index 1) is overridden as writable, so a test can mark it down by SNMP
# SET without touching the host's network.
# Idempotent: installs only what is missing, starts snmpd only when it is not running.
set -euo pipefail

root=/var/tmp/opsdesk-snmpd
port=16100
read_community=opsdesk-read
write_community=opsdesk-write
v3_user=opsdesk
v3_auth_password=opsdesk-auth-secret
v3_privacy_password=opsdesk-priv-secret
# ifIndex of the interface whose ifOperStatus tests may flip: the loopback (net-snmp's ifIndex
# is the kernel's, 1 for lo).
flip_index=$(cat /sys/class/net/lo/ifindex 2>/dev/null || echo 1)
mkdir -p "$root/persist"

if ! command -v snmpd >/dev/null || ! command -v snmptrap >/dev/null; then
    if ! apt-get install -y -q snmpd snmp >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q snmpd snmp >/dev/null
    fi
fi

conf="$root/snmpd.conf"
pid_file="$root/snmpd.pid"
# The values of this run, compared with the running daemon's so a changed script restarts it.
cat > "$conf.new" <<CONF
agentAddress udp:127.0.0.1:$port
sysName opsdesk-test-agent
sysLocation opsdesk CI rack 1
sysContact noc@desk.test
sysServices 72
rocommunity $read_community
rwcommunity $write_community 127.0.0.1
createUser $v3_user SHA "$v3_auth_password" AES "$v3_privacy_password"
rouser $v3_user priv
override -rw 1.3.6.1.2.1.2.2.1.8.$flip_index integer 1
CONF

# A process that died but was not reaped still answers kill -0: look at its state too.
alive() {
    local pid
    pid=$(cat "$pid_file" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}
responding() {
    snmpget -v 2c -c "$read_community" -t 0.3 -r 0 -On "127.0.0.1:$port" 1.3.6.1.2.1.1.5.0 \
        >/dev/null 2>&1
}

if alive && { ! cmp -s "$conf.new" "$conf" || ! responding; }; then
    kill "$(cat "$pid_file")"
    for _ in $(seq 1 50); do alive || break; sleep 0.1; done
fi
if ! cmp -s "$conf.new" "$conf"; then
    # The agent stores its users' keys there: forget those of an older configuration.
    rm -f "$root/persist/snmpd.conf"
fi
mv "$conf.new" "$conf"
if ! alive; then
    # -C: only this configuration, never /etc/snmp; the persistent directory keeps the engine
    # ID and boot counter of this agent apart from a system snmpd's.
    SNMP_PERSISTENT_DIR="$root/persist" MIBS= snmpd -C -c "$conf" -p "$pid_file" \
        -Lf "$root/snmpd.log"
fi
for _ in $(seq 1 50); do responding && break; sleep 0.1; done
if ! responding; then
    echo "snmpd did not start on 127.0.0.1:$port; its log:" >&2
    tail -20 "$root/snmpd.log" >&2 || true
    exit 1
fi
# A test that died mid-way may have left the interface marked down: start from up.
snmpset -v 2c -c "$write_community" -t 1 -r 1 "127.0.0.1:$port" \
    "1.3.6.1.2.1.2.2.1.8.$flip_index" i 1 >/dev/null

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    {
        echo "export OPSDESK_TEST_SNMPD=127.0.0.1:$port"
        echo "export OPSDESK_TEST_SNMPD_COMMUNITY=$read_community"
        echo "export OPSDESK_TEST_SNMPD_WRITE_COMMUNITY=$write_community"
        echo "export OPSDESK_TEST_SNMPD_V3_USER=$v3_user"
        echo "export OPSDESK_TEST_SNMPD_V3_AUTH_PASSWORD=$v3_auth_password"
        echo "export OPSDESK_TEST_SNMPD_V3_PRIVACY_PASSWORD=$v3_privacy_password"
        echo "export OPSDESK_TEST_SNMPD_FLIP_INDEX=$flip_index"
    } >> "$OPSDESK_CI_ENV"
fi
