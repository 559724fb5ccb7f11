#!/usr/bin/env bash
# Mail servers for the mail-channel tests, on 127.0.0.1 with private configuration:
# Dovecot (IMAP on port 10143 with STARTTLS, implicit TLS on 10993; user support@desk.test /
# password "support-secret") and two aiosmtpd SMTP servers that write every message they
# receive into one maildir: plain on 10025, and on 10587 one that requires STARTTLS and
# authentication (notify / notify-secret). The TLS certificates come from a private test CA.
# Idempotent: installs only what is missing, starts only what is not running.
set -euo pipefail

root=/var/tmp/opsdesk-mail
imap_port=10143
imaps_port=10993
smtp_port=10025
smtp_tls_port=10587
mkdir -p "$root"

if ! command -v dovecot >/dev/null || [ ! -e /usr/lib/dovecot/imap ]; then
    if ! apt-get install -y -q dovecot-imapd >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q dovecot-imapd >/dev/null
    fi
fi
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    pip install -q aiosmtpd
fi
id opsdeskmail >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin opsdeskmail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tls="$root/tls"
if [ ! -e "$tls/server.pem" ]; then
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=opsdesk test CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$tls/ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null
    chmod 644 "$tls/server.key"
fi

conf="$root/dovecot"
mkdir -p "$conf/run" "$conf/home"
chown opsdeskmail: "$conf/home"
echo 'support@desk.test:{PLAIN}support-secret' > "$conf/users"
cat > "$conf/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $conf/run
state_dir = $conf/state
instance_name = opsdesk-test
log_path = $conf/dovecot.log
ssl = yes
ssl_cert = <$tls/server.pem
ssl_key = <$tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 100
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $conf/users
}
userdb {
  driver = static
  args = uid=opsdeskmail gid=opsdeskmail home=$conf/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF
if port_open $imap_port && ! port_open $imaps_port; then
    # Started by an older version of this script, without TLS: restart with this configuration.
    kill "$(cat "$conf/run/master.pid")"
    for _ in $(seq 1 50); do port_open $imap_port || break; sleep 0.1; done
fi
if ! port_open $imap_port; then
    dovecot -c "$conf/dovecot.conf"
fi

maildir="$root/smtp-maildir"
mkdir -p "$maildir"/{new,cur,tmp}
if ! port_open $smtp_port; then
    nohup python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
        >"$root/aiosmtpd.log" 2>&1 &
fi
cat > "$root/smtp_tls.py" <<'PY'
"""SMTP on 127.0.0.1 that requires STARTTLS, then AUTH as notify / notify-secret."""
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

port, maildir, cert, key = sys.argv[1:5]


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"notify" and auth_data.password == b"notify-secret"
    return AuthResult(success=ok)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
Controller(
    Mailbox(maildir),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    auth_required=True,
    authenticator=authenticate,
).start()
threading.Event().wait()
PY
if ! port_open $smtp_tls_port; then
    nohup python3 "$root/smtp_tls.py" $smtp_tls_port "$maildir" "$tls/server.pem" "$tls/server.key" \
        >"$root/aiosmtpd-tls.log" 2>&1 &
fi
for _ in $(seq 1 50); do
    port_open $imap_port && port_open $imaps_port && port_open $smtp_port \
        && port_open $smtp_tls_port && break
    sleep 0.1
done

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    {
        echo "export OPSDESK_TEST_IMAP_URL=imap://support%40desk.test:support-secret@127.0.0.1:$imap_port"
        echo "export OPSDESK_TEST_SMTP_URL=smtp://127.0.0.1:$smtp_port"
        echo "export OPSDESK_TEST_SMTP_MAILDIR=$maildir"
        echo "export OPSDESK_TEST_IMAPS_URL=imaps://support%40desk.test:support-secret@127.0.0.1:$imaps_port"
        echo "export OPSDESK_TEST_SMTP_TLS_URL='smtp://notify:notify-secret@127.0.0.1:$smtp_tls_port?tls=required'"
        echo "export OPSDESK_TEST_TLS_CA=$tls/ca.pem"
    } >> "$OPSDESK_CI_ENV"
fi
