//! English: a person's security page (sessions, API tokens, the authenticator app), the
//! admins' view of someone's sessions, and the sign-in step that asks for a code.

/// Sorted by key (binary search; a test keeps it sorted).
pub(super) const TABLE: &[(&str, &str)] = &[
    ("account.admin.back", "Back to the user"),
    (
        "account.admin.no_sessions",
        "No one is signed in as this user.",
    ),
    (
        "account.admin.revoke",
        "Sign out everywhere and revoke all tokens",
    ),
    (
        "account.admin.revoke.hint",
        "Ends every session and revokes every API token of this user at once, e.g. when an account may be compromised.",
    ),
    (
        "account.admin.second_factor.hint",
        "For a person who lost their authenticator and their recovery codes: they sign in with their password alone until they add a new one.",
    ),
    ("account.admin.title", "Sessions and sign-in"),
    ("account.second_factor", "Authenticator app"),
    ("account.second_factor.add", "Add an authenticator app"),
    ("account.second_factor.back", "Start again"),
    ("account.second_factor.code", "Code"),
    ("account.second_factor.confirm", "Turn on"),
    (
        "account.second_factor.directory",
        "This account signs in through its directory or identity provider, which has its own second factor.",
    ),
    (
        "account.second_factor.disabled",
        "Signing in needs only your password. Add an authenticator app so that a stolen password is not enough.",
    ),
    (
        "account.second_factor.enabled",
        "Signing in asks for a code from your authenticator app.",
    ),
    ("account.second_factor.left", "Recovery codes left:"),
    ("account.second_factor.on", "The authenticator app is on."),
    (
        "account.second_factor.prompt",
        "Enter the six-digit code your authenticator app shows, or one of your recovery codes.",
    ),
    (
        "account.second_factor.recovery",
        "Keep these recovery codes somewhere safe. Each works once, in place of a code, if you lose your phone. They are not shown again.",
    ),
    (
        "account.second_factor.scan",
        "Scan this code with an authenticator app (or type the key below), then enter the code it shows.",
    ),
    ("account.second_factor.secret", "Key:"),
    ("account.second_factor.title", "Enter your code"),
    (
        "account.second_factor.turn_off",
        "Turn off the authenticator app",
    ),
    ("account.second_factor.verify", "Verify"),
    (
        "account.second_factor.wrong",
        "The code is wrong or was already used.",
    ),
    ("account.session.client", "Browser and address"),
    ("account.session.last_seen", "Last used"),
    ("account.session.method", "Signed in with"),
    ("account.session.revoke", "Revoke"),
    ("account.session.started", "Started"),
    ("account.session.this", "this browser"),
    ("account.sessions", "Signed-in sessions"),
    (
        "account.sessions.hint",
        "Every browser signed in as you. Revoke one you do not recognise, or sign out everywhere.",
    ),
    ("account.sign_out_everywhere", "Sign out everywhere"),
    ("account.time_zone", "Time zone"),
    (
        "account.time_zone.hint",
        "An IANA name such as Europe/Paris. Times on these pages are shown in it, and your reports default to it. Empty: UTC.",
    ),
    ("account.time_zone.label", "Your time zone"),
    ("account.time_zone.save", "Save time zone"),
    ("account.title", "Your account and security"),
    ("account.token.create", "Create token"),
    (
        "account.token.created",
        "Copy the new token now; it is not shown again:",
    ),
    ("account.token.name", "Name"),
    ("account.token.revoked", "Revoked"),
    ("account.tokens", "API tokens"),
];
