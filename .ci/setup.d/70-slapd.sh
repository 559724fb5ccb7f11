#!/usr/bin/env bash
# An OpenLDAP server of its own for the directory tests (crates/cli/tests/ldap.rs) and the
# directory-sync benchmark, apart from any system slapd:
#
# - configuration and data under /var/tmp/opsdesk-slapd, ports 1389 (LDAP, StartTLS offered)
#   and 1636 (LDAPS), on 127.0.0.1 only;
# - a throw-away CA and a server certificate for 127.0.0.1 and localhost, made with openssl;
# - `dc=opsdesk,dc=test`: people (with mail) and groups, a service account opsdesk binds
#   as, and the ppolicy overlay with a policy (at least 14 characters, not one of the last
#   three, locked after 3 wrong passwords) so that the directory's own refusals can be tested;
# - `dc=bench,dc=test`: an empty suffix the benchmark loads its 50,000 people into.
#
# Idempotent: installs only what is missing, keeps the CA and the data of an earlier run,
# and starts slapd only when it is not answering.
set -euo pipefail

root=/var/tmp/opsdesk-slapd
ldap_port=1389
ldaps_port=1636
base=dc=opsdesk,dc=test
bench_base=dc=bench,dc=test
admin_dn="cn=admin,$base"
admin_password=opsdesk-ldap-admin
service_dn="cn=opsdesk,ou=services,$base"
service_password=opsdesk-ldap-service
# Everyone seeded shares this password; tests that change people create their own.
people_password=seeded-people-password

if ! command -v slapd >/dev/null || ! command -v ldapsearch >/dev/null; then
    # No configuration by the package: the system's own slapd stays unset and stopped.
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd ldap-utils >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd ldap-utils >/dev/null
    fi
fi
command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >/dev/null

mkdir -p "$root/tls" "$root/data" "$root/bench"

# The CA and the server certificate, made once.
if [ ! -s "$root/tls/server.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=opsdesk test LDAP CA" \
        -keyout "$root/tls/ca.key" -out "$root/tls/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$root/tls/server.key" -out "$root/tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        > "$root/tls/server.ext"
    openssl x509 -req -in "$root/tls/server.csr" -CA "$root/tls/ca.pem" -CAkey "$root/tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$root/tls/server.ext" -out "$root/tls/server.pem" \
        2>/dev/null
    chmod 644 "$root/tls/server.key"
fi

hash() { slappasswd -s "$1"; }

conf="$root/slapd.conf"
cat > "$conf.new" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $root/slapd.pid
argsfile $root/slapd.args
sizelimit unlimited
TLSCACertificateFile $root/tls/ca.pem
TLSCertificateFile $root/tls/server.pem
TLSCertificateKeyFile $root/tls/server.key

database mdb
maxsize 1073741824
suffix "$base"
rootdn "$admin_dn"
rootpw $(hash "$admin_password")
directory $root/data
index objectClass eq
index uid,mail,cn eq
index member,memberUid eq
overlay ppolicy
ppolicy_default "cn=default,ou=policies,$base"
ppolicy_use_lockout
ppolicy_hash_cleartext
# The service account reads everyone, sets passwords (write, not manage: with manage
# ppolicy would let it skip the policy) and lifts lockouts (manage: the lockout attribute is
# operational); people bind with their own password.
access to attrs=userPassword
    by dn.exact="$service_dn" write
    by self write
    by anonymous auth
    by * none
access to attrs=pwdAccountLockedTime,pwdFailureTime
    by dn.exact="$service_dn" manage
    by * read
access to *
    by dn.exact="$service_dn" manage
    by self read
    by users read
    by * none

database mdb
maxsize 4294967296
suffix "$bench_base"
rootdn "cn=admin,$bench_base"
rootpw $(hash "$admin_password")
directory $root/bench
index objectClass eq
index uid,mail,cn eq
index member eq
access to * by users read by * auth
CONF

alive() {
    local pid
    pid=$(cat "$root/slapd.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}
responding() {
    LDAPTLS_CACERT="$root/tls/ca.pem" ldapsearch -x -H "ldaps://127.0.0.1:$ldaps_port" \
        -b "" -s base -o nettimeout=2 namingContexts >/dev/null 2>&1
}

# A changed configuration (or a dead daemon) restarts slapd; the passwords in it are salted
# anew each run, so compare without them.
strip() { grep -v '^rootpw' "$1" 2>/dev/null || true; }
if alive && { [ "$(strip "$conf.new")" != "$(strip "$conf")" ] || ! responding; }; then
    kill "$(cat "$root/slapd.pid")"
    for _ in $(seq 1 50); do alive || break; sleep 0.1; done
fi
if ! alive; then
    mv "$conf.new" "$conf"
    slaptest -u -f "$conf" >/dev/null 2>&1 || { slaptest -u -f "$conf"; exit 1; }
    slapd -f "$conf" -h "ldap://127.0.0.1:$ldap_port/ ldaps://127.0.0.1:$ldaps_port/" \
        -l local4 2>"$root/slapd.log" || { cat "$root/slapd.log" >&2; exit 1; }
else
    rm -f "$conf.new"
fi
for _ in $(seq 1 100); do responding && break; sleep 0.1; done
if ! responding; then
    echo "slapd did not answer on 127.0.0.1:$ldaps_port; its log:" >&2
    tail -20 "$root/slapd.log" >&2 || true
    exit 1
fi

add() {
    # Entries that exist already are left as they are (-c goes on past them).
    LDAPTLS_CACERT="$root/tls/ca.pem" ldapadd -c -x -H "ldaps://127.0.0.1:$ldaps_port" \
        -D "$1" -w "$admin_password" >/dev/null 2>&1 || true
}
if ! LDAPTLS_CACERT="$root/tls/ca.pem" ldapsearch -x -H "ldaps://127.0.0.1:$ldaps_port" \
    -D "$admin_dn" -w "$admin_password" -b "uid=alice,ou=people,$base" -s base dn >/dev/null 2>&1; then
    add "$admin_dn" <<LDIF
dn: $base
objectClass: dcObject
objectClass: organization
o: opsdesk test directory
dc: opsdesk

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=groups,$base
objectClass: organizationalUnit
ou: groups

dn: ou=services,$base
objectClass: organizationalUnit
ou: services

dn: ou=policies,$base
objectClass: organizationalUnit
ou: policies

dn: $service_dn
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: opsdesk
userPassword: $service_password

dn: uid=alice,ou=people,$base
objectClass: inetOrgPerson
uid: alice
cn: Alice Archer
sn: Archer
mail: alice@corp.test
userPassword: $people_password

dn: uid=bob,ou=people,$base
objectClass: inetOrgPerson
uid: bob
cn: Bob Baker
sn: Baker
mail: bob@corp.test
userPassword: $people_password

dn: cn=helpdesk,ou=groups,$base
objectClass: groupOfNames
cn: helpdesk
member: uid=alice,ou=people,$base

dn: cn=admins,ou=groups,$base
objectClass: groupOfNames
cn: admins
member: uid=bob,ou=people,$base
LDIF
    add "cn=admin,$bench_base" <<LDIF
dn: $bench_base
objectClass: dcObject
objectClass: organization
o: opsdesk benchmark directory
dc: bench
LDIF
fi

# The password policy: its own check, so that a tree seeded by an older script gets it too.
if ! LDAPTLS_CACERT="$root/tls/ca.pem" ldapsearch -x -H "ldaps://127.0.0.1:$ldaps_port" \
    -D "$admin_dn" -w "$admin_password" -b "cn=default,ou=policies,$base" -s base dn >/dev/null 2>&1; then
    LDAPTLS_CACERT="$root/tls/ca.pem" ldapadd -x -H "ldaps://127.0.0.1:$ldaps_port" \
        -D "$admin_dn" -w "$admin_password" >/dev/null <<LDIF
dn: cn=default,ou=policies,$base
objectClass: pwdPolicy
objectClass: applicationProcess
cn: default
pwdAttribute: userPassword
pwdMinLength: 14
pwdCheckQuality: 2
pwdInHistory: 3
pwdMaxFailure: 3
pwdLockout: TRUE
pwdLockoutDuration: 0
pwdAllowUserChange: TRUE
LDIF
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    cat >> "$OPSDESK_CI_ENV" <<ENV
export OPSDESK_TEST_LDAP_URL=ldaps://127.0.0.1:$ldaps_port
export OPSDESK_TEST_LDAP_STARTTLS_URL=ldap://127.0.0.1:$ldap_port
export OPSDESK_TEST_LDAP_CA=$root/tls/ca.pem
export OPSDESK_TEST_LDAP_BASE_DN=$base
export OPSDESK_TEST_LDAP_BIND_DN='$admin_dn'
export OPSDESK_TEST_LDAP_BIND_PASSWORD=$admin_password
export OPSDESK_TEST_LDAP_SERVICE_DN='$service_dn'
export OPSDESK_TEST_LDAP_SERVICE_PASSWORD=$service_password
export OPSDESK_TEST_LDAP_PEOPLE_PASSWORD=$people_password
export OPSDESK_TEST_LDAP_BENCH_BASE_DN=$bench_base
export OPSDESK_TEST_LDAP_BENCH_BIND_DN='cn=admin,$bench_base'
ENV
fi
