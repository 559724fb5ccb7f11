#!/usr/bin/env bash
# Mail servers for the mail-channel tests, on 127.0.0.1 with private configuration:
# Dovecot (IMAP, port 10143, user support@desk.test / password "support-secret") and an
# aiosmtpd SMTP server (port 10025) that writes every message it receives into a maildir.
# Idempotent: installs only what is missing, starts only what is not running.
set -euo pipefail

root=/var/tmp/opsdesk-mail
imap_port=10143
smtp_port=10025
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
ssl = no
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
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF
if ! (exec 3<>/dev/tcp/127.0.0.1/$imap_port) 2>/dev/null; then
    dovecot -c "$conf/dovecot.conf"
fi

maildir="$root/smtp-maildir"
mkdir -p "$maildir"/{new,cur,tmp}
if ! (exec 3<>/dev/tcp/127.0.0.1/$smtp_port) 2>/dev/null; then
    nohup python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
        >"$root/aiosmtpd.log" 2>&1 &
fi
for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$imap_port) 2>/dev/null \
        && (exec 3<>/dev/tcp/127.0.0.1/$smtp_port) 2>/dev/null && break
    sleep 0.1
done

if [ -n "${OPSDESK_CI_ENV:-}" ]; then
    {
        echo "export OPSDESK_TEST_IMAP_URL=imap://support%40desk.test:support-secret@127.0.0.1:$imap_port"
        echo "export OPSDESK_TEST_SMTP_URL=smtp://127.0.0.1:$smtp_port"
        echo "export OPSDESK_TEST_SMTP_MAILDIR=$maildir"
    } >> "$OPSDESK_CI_ENV"
fi
