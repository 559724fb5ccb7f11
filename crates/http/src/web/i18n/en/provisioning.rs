//! English: the admins' page for SCIM provisioning clients.

/// Sorted by key (binary search; a test keeps it sorted).
pub(super) const TABLE: &[(&str, &str)] = &[
    ("provisioning.base_url", "SCIM base URL:"),
    ("provisioning.create", "Create client"),
    (
        "provisioning.created",
        "Enter this token at the identity provider now; it is not shown again:",
    ),
    (
        "provisioning.hint",
        "Identity providers such as Entra ID, Okta or Authentik push users and groups here over SCIM 2.0. An organization's client creates and deactivates that organization's customers; a staff client manages agents and the support groups it creates. Admin accounts are never provisioned.",
    ),
    ("provisioning.name", "Name"),
    ("provisioning.new", "New provisioning client"),
    ("provisioning.none", "No provisioning clients yet."),
    ("provisioning.scope", "Provisions"),
    ("provisioning.staff", "Staff (agents and support groups)"),
];
