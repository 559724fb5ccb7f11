#!/usr/bin/env bash
# Request Tracker 5 (the Debian packages, SQLite database, standalone server) for the RT
# import test (crates/cli/tests/import_rt.rs): RT's own server on 127.0.0.1:10380 with an
# API token for root. Outgoing mail goes to an mbox file under /var/lib/request-tracker5,
# never to a relay. Idempotent: installs only what is missing, starts only what is not
# running, and creates the token once (it is kept in /var/tmp/opsdesk-rt/token).
set -euo pipefail

root=/var/tmp/opsdesk-rt
port=10380
url="http://127.0.0.1:$port"
site=/etc/request-tracker5/RT_SiteConfig.d/90-opsdesk-ci.pm
mkdir -p "$root"

if [ ! -e /usr/share/request-tracker5/libexec/rt-server ]; then
    export DEBIAN_FRONTEND=noninteractive
    # dbconfig-common creates and fills the SQLite database during the install; no question
    # is asked. msmtp-mta satisfies RT's need of an MTA without a mail daemon.
    debconf-set-selections <<'PRESEED'
request-tracker5 request-tracker5/dbconfig-install boolean true
request-tracker5 request-tracker5/database-type select sqlite3
request-tracker5 request-tracker5/rtname string opsdesk-ci
request-tracker5 request-tracker5/organization string opsdesk-ci
request-tracker5 request-tracker5/correspondaddress string rt@rt.opsdesk.test
request-tracker5 request-tracker5/commentaddress string rt-comment@rt.opsdesk.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
request-tracker5 request-tracker5/webpath string /
request-tracker5 request-tracker5/handle-siteconfig-permissions boolean false
request-tracker5 request-tracker5/install-cronjobs boolean false
PRESEED
    packages=(request-tracker5 rt5-db-sqlite rt5-standalone msmtp-mta)
    if ! apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
    fi
fi

# Loaded after the package's own files (RT reads RT_SiteConfig.d in order).
cat >"$site.new" <<CONF
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $port);
Set(\$WebPath, '');
Set(\$WebBaseURL, '$url');
Set(\$MailCommand, 'mbox');
Set(\$LogToSTDERR, 'warning');
1;
CONF
if ! cmp -s "$site.new" "$site"; then
    mv "$site.new" "$site"
    # A running server read the old settings.
    if [ -e "$root/server.pid" ]; then
        kill "$(cat "$root/server.pid")" 2>/dev/null || true
        rm -f "$root/server.pid"
    fi
else
    rm -f "$site.new"
fi

perl_rt=(perl -I/usr/share/request-tracker5/lib -I/etc/request-tracker5 -MRT)
if [ ! -s "$root/token" ]; then
    # Root gets a real address (authors are matched by address) and a token for REST2.
    "${perl_rt[@]}" -e '
        RT::LoadConfig(); RT::Init();
        my $root = RT::User->new(RT->SystemUser);
        $root->Load("root") or die "no root user\n";
        $root->SetEmailAddress("root\@rt.opsdesk.test")
            unless $root->EmailAddress eq "root\@rt.opsdesk.test";
        my $token = RT::AuthToken->new(RT->SystemUser);
        my ($id, $message, $secret) = $token->Create(Owner => $root->Id, Description => "opsdesk CI");
        $id or die "cannot create a token: $message\n";
        print $secret;
    ' >"$root/token.new"
    mv "$root/token.new" "$root/token"
fi

up() { curl -fsS -o /dev/null -H "Authorization: token $(cat "$root/token")" "$url/REST/2.0/rt"; }
if ! up 2>/dev/null; then
    # Detached, so it outlives this script; its log explains a failure to start.
    setsid /usr/share/request-tracker5/libexec/rt-server --server Standalone --port "$port" \
        >"$root/server.log" 2>&1 </dev/null &
    echo $! >"$root/server.pid"
    for _ in $(seq 1 60); do up 2>/dev/null && break; sleep 0.5; done
    if ! up; then
        echo "Request Tracker did not start; see $root/server.log" >&2
        tail -n 20 "$root/server.log" >&2
        exit 1
    fi
fi

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    echo "export OPSDESK_TEST_RT_URL=$url" >>"$OPSDESK_CI_ENV"
    echo "export OPSDESK_TEST_RT_TOKEN=$(cat "$root/token")" >>"$OPSDESK_CI_ENV"
fi
