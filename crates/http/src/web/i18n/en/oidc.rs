//! English: signing in through OpenID Connect providers — the sign-in page's buttons and
//! messages, and the admins' provider pages.

/// Sorted by key (binary search; a test keeps it sorted).
pub(super) const TABLE: &[(&str, &str)] = &[
    ("oidc.admin.active", "Active"),
    ("oidc.admin.all", "All sign-in providers"),
    (
        "oidc.admin.allow_signup",
        "Create an account on a first sign-in",
    ),
    ("oidc.admin.back", "Back to administration"),
    ("oidc.admin.claims", "Claims"),
    ("oidc.admin.client_id", "Client ID"),
    ("oidc.admin.client_secret", "Client secret"),
    (
        "oidc.admin.client_secret.hint",
        "Leave empty for a public client (PKCE only).",
    ),
    (
        "oidc.admin.client_secret.kept",
        "A secret is set and never shown; leave empty to keep it, or type a new one.",
    ),
    ("oidc.admin.default_role", "Role when no rule matches"),
    ("oidc.admin.default_role.none", "none: refuse"),
    ("oidc.admin.delete", "Delete this provider"),
    (
        "oidc.admin.delete.hint",
        "Accounts it created stay; they can no longer sign in through it.",
    ),
    ("oidc.admin.email_claim", "E-mail claim"),
    ("oidc.admin.email_domains", "E-mail domains"),
    (
        "oidc.admin.email_domains.hint",
        "Addresses in these domains are sent to this provider from the sign-in form, e.g. acme.example.",
    ),
    ("oidc.admin.group_mappings", "Groups to support groups"),
    (
        "oidc.admin.group_mappings.hint",
        "One per line: provider group = support group name (staff providers only).",
    ),
    ("oidc.admin.groups_claim", "Groups claim"),
    (
        "oidc.admin.hint",
        "People sign in with their own company's identity. A provider of no organization signs in staff; an organization's provider only ever signs in customers of that organization. The local admin's password keeps working whatever is set here.",
    ),
    ("oidc.admin.issuer", "Issuer"),
    (
        "oidc.admin.issuer.hint",
        "https:// (plain http:// only for a provider on this machine).",
    ),
    ("oidc.admin.label", "Button label"),
    (
        "oidc.admin.label.hint",
        "The sign-in page says “Sign in with” this; the name when empty.",
    ),
    ("oidc.admin.line", "line"),
    (
        "oidc.admin.mapping_format",
        "write provider group = support group name, with a support group that exists",
    ),
    ("oidc.admin.name", "Name"),
    ("oidc.admin.name_claim", "Name claim"),
    ("oidc.admin.new", "New sign-in provider"),
    ("oidc.admin.none", "No sign-in providers yet."),
    ("oidc.admin.organization", "Signs in"),
    (
        "oidc.admin.organization.hint",
        "Staff, or the customers of one organization.",
    ),
    (
        "oidc.admin.redirect_uri",
        "Register this redirect URI at the provider:",
    ),
    (
        "oidc.admin.require_verified_email",
        "Require an e-mail address the provider verified",
    ),
    ("oidc.admin.role_rules", "Role rules"),
    (
        "oidc.admin.role_rules.hint",
        "One per line: provider group = role (customer, agent or admin); the first match wins.",
    ),
    (
        "oidc.admin.rule_format",
        "write provider group = customer, agent or admin",
    ),
    ("oidc.admin.scopes", "Scopes"),
    (
        "oidc.admin.scopes.hint",
        "Besides openid, separated by spaces, e.g. email profile groups.",
    ),
    ("oidc.admin.staff", "Staff"),
    ("oidc.admin.title", "Sign-in providers"),
    (
        "oidc.continue",
        "Your address signs in with your organization's identity provider.",
    ),
    (
        "oidc.no_provider_for_address",
        "No single sign-on is set up for this address: sign in with your password.",
    ),
    ("oidc.or", "or"),
    (
        "oidc.refused.account",
        "This account cannot sign in here. Ask your service desk for help.",
    ),
    (
        "oidc.refused.email_not_verified",
        "Your identity provider has not verified your e-mail address, so it cannot be used to sign in.",
    ),
    (
        "oidc.refused.expired",
        "The sign-in from your identity provider has expired. Please try again.",
    ),
    (
        "oidc.refused.no_provider",
        "This sign-in provider is not available.",
    ),
    (
        "oidc.refused.no_role",
        "None of your groups at your identity provider gives access to the service desk.",
    ),
    (
        "oidc.refused.other_account",
        "This address belongs to an account that cannot sign in through this provider. Use the sign-in your organization was given.",
    ),
    (
        "oidc.refused.provider",
        "Your identity provider did not sign you in.",
    ),
    (
        "oidc.refused.signup_closed",
        "There is no service desk account for this address. Ask your service desk to create one.",
    ),
    (
        "oidc.refused.state",
        "This sign-in link has already been used or has expired. Please sign in again.",
    ),
    (
        "oidc.refused.token",
        "The answer from your identity provider could not be verified, so you were not signed in.",
    ),
    (
        "oidc.refused.unreachable",
        "Your identity provider could not be reached. Please try again later.",
    ),
    ("oidc.sign_in_with", "Sign in with {label}"),
    ("oidc.sso", "Continue with single sign-on"),
];
