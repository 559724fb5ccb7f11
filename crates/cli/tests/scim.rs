//! SCIM 2.0 provisioning as identity providers drive it: an organization's client creates,
//! finds, updates, deactivates and deletes only that organization's customers (taking over
//! existing accounts by address, never another organization's or an admin); deactivation
//! ends sessions and tokens at once; a staff client manages agents and support groups;
//! errors come in SCIM's own format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_testkit::{Backend, Client, PASSWORD, Reply, TestServer, dual_backend_test};
use serde_json::{Value, json};

/// Creates a provisioning client for `organization` (staff when `None`); returns a client
/// calling SCIM with its token.
async fn provisioning(server: &TestServer, name: &str, organization: Option<&str>) -> Client {
    let created = server
        .admin()
        .post(
            "/api/v1/scim-clients",
            json!({"name": name, "organization": organization}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let token = created.body["token"].as_str().unwrap();
    assert!(token.starts_with("odscim_"));
    server.client(token)
}

/// A user as Entra ID sends it.
fn entra_user(address: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": format!("ext-{address}"),
        "userName": address,
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"primary": true, "type": "work", "value": address}],
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "title": "Engineer"
    })
}

fn scim_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.header("content-type"),
        Some("application/scim+json"),
        "{}",
        reply.text
    );
    assert_eq!(
        reply.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(reply.body["status"], status.to_string());
    if let Some(kind) = scim_type {
        assert_eq!(reply.body["scimType"], kind, "{}", reply.text);
    }
}

dual_backend_test!(
    an_organizations_provider_provisions_only_its_customers,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let acme = provisioning(&server, "Acme Entra ID", Some("Acme")).await;
        let globex = provisioning(&server, "Globex Okta", Some("Globex")).await;

        let created = acme
            .post(
                "/scim/v2/Users",
                entra_user("dana@acme.example", "Dana", "Ng"),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        assert_eq!(
            created.header("content-type"),
            Some("application/scim+json")
        );
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            created.header("location"),
            Some(format!("/scim/v2/Users/{id}").as_str())
        );
        assert_eq!(created.body["userName"], "dana@acme.example");
        assert_eq!(created.body["displayName"], "Dana Ng");
        assert_eq!(created.body["externalId"], "ext-dana@acme.example");
        assert_eq!(created.body["active"], true);
        let account = server.admin().get(&format!("/api/v1/users/{id}")).await;
        assert_eq!(account.body["role"], "customer", "{}", account.text);
        assert_eq!(account.body["organization"], "Acme");

        // Found the way providers look before they create.
        let found = acme
            .get("/scim/v2/Users?filter=userName%20eq%20%22Dana%40Acme.example%22")
            .await;
        assert_eq!(found.status, 200, "{}", found.text);
        assert_eq!(found.body["totalResults"], 1);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
        let by_external = acme
            .get("/scim/v2/Users?filter=externalId%20eq%20%22ext-dana%40acme.example%22")
            .await;
        assert_eq!(by_external.body["totalResults"], 1);
        let unsupported = acme
            .get("/scim/v2/Users?filter=userName%20sw%20%22d%22")
            .await;
        scim_error(&unsupported, 400, Some("invalidFilter"));

        // Creating the same user again conflicts; an existing customer of Acme is taken
        // over; another organization's customer and staff are refused.
        let again = acme
            .post(
                "/scim/v2/Users",
                entra_user("dana@acme.example", "Dana", "Ng"),
            )
            .await;
        scim_error(&again, 409, Some("uniqueness"));
        // A new address under an externalId already in use is refused before any account
        // is made, so none is left behind unlinked.
        let mut twin = entra_user("dana.ng@acme.example", "Dana", "Ng");
        twin["externalId"] = json!("ext-dana@acme.example");
        let twin = acme.post("/scim/v2/Users", twin).await;
        scim_error(&twin, 409, Some("uniqueness"));
        let left = server.admin().get("/api/v1/users?limit=500").await;
        assert!(!left.text.contains("dana.ng@acme.example"), "{}", left.text);
        let carol = acme
            .post(
                "/scim/v2/Users",
                entra_user("carol@acme.example", "Carol", "Lee"),
            )
            .await;
        assert_eq!(carol.status, 201, "{}", carol.text);
        assert_eq!(carol.body["displayName"], "Carol Lee");
        for foreign in ["gus@globex.example", "root@msp.example", "ann@msp.example"] {
            let refused = acme
                .post("/scim/v2/Users", entra_user(foreign, "X", "Y"))
                .await;
            scim_error(&refused, 409, Some("uniqueness"));
        }

        // Globex's client sees none of it.
        let peek = globex.get(&format!("/scim/v2/Users/{id}")).await;
        scim_error(&peek, 404, None);
        let listed = globex.get("/scim/v2/Users").await;
        assert_eq!(listed.body["totalResults"], 0, "{}", listed.text);
        let patched = globex
            .patch(
                &format!("/scim/v2/Users/{id}"),
                json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
                None,
            )
            .await;
        scim_error(&patched, 404, None);

        // Deactivation as Entra ID sends it ends Dana's session and tokens at once.
        let token = server.token_for("dana@acme.example").await;
        let dana = server.client(&token);
        assert_eq!(dana.get("/api/v1/me").await.status, 200);
        let set_password = server
            .admin()
            .patch(
                &format!("/api/v1/users/{id}"),
                json!({"password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(set_password.status, 200, "{}", set_password.text);
        let browser = server.signed_in_client("dana@acme.example", PASSWORD).await;
        let off = acme
            .patch(
                &format!("/scim/v2/Users/{id}"),
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "Replace", "path": "active", "value": "False"},
                                      {"op": "Replace", "path": "name.givenName", "value": "Danielle"},
                                      {"op": "Replace", "path": "name.familyName", "value": "Ng"}]}),
                None,
            )
            .await;
        assert_eq!(off.status, 200, "{}", off.text);
        assert_eq!(off.body["active"], false);
        assert_eq!(off.body["displayName"], "Danielle Ng");
        assert_eq!(dana.get("/api/v1/me").await.status, 401);
        let me = browser
            .get(format!("{}/api/v1/me", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 401);

        // The address cannot be changed by provisioning: it is how opsdesk knows people.
        let renamed = acme
            .patch(
                &format!("/scim/v2/Users/{id}"),
                json!({"Operations": [{"op": "replace", "path": "userName", "value": "dee@acme.example"}]}),
                None,
            )
            .await;
        scim_error(&renamed, 400, Some("mutability"));

        // PUT replaces; DELETE deprovisions: the account is deactivated and gone from SCIM.
        let mut replacement = entra_user("dana@acme.example", "Dana", "Ng");
        replacement["externalId"] = json!("new-external");
        let replaced = acme.put(&format!("/scim/v2/Users/{id}"), replacement).await;
        assert_eq!(replaced.status, 200, "{}", replaced.text);
        assert_eq!(replaced.body["active"], true);
        assert_eq!(replaced.body["externalId"], "new-external");
        let deleted = acme.delete(&format!("/scim/v2/Users/{id}")).await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        scim_error(&acme.get(&format!("/scim/v2/Users/{id}")).await, 404, None);
        let account = server.admin().get(&format!("/api/v1/users/{id}")).await;
        assert_eq!(account.body["active"], false);

        // An organization's client has no groups to manage.
        let group = acme
            .post("/scim/v2/Groups", json!({"displayName": "Acme IT"}))
            .await;
        scim_error(&group, 403, None);

        // Wrong and revoked tokens get SCIM's 401; the admin's API token is no SCIM token.
        scim_error(&server.admin().get("/scim/v2/Users").await, 401, None);
        let clients = server.admin().get("/api/v1/scim-clients").await;
        let acme_id = clients
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Acme Entra ID")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let revoked = server
            .admin()
            .delete(&format!("/api/v1/scim-clients/{acme_id}"))
            .await;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        scim_error(&acme.get("/scim/v2/Users").await, 401, None);
        let audit = server.admin().get("/api/v1/audit?entity=scim_client").await;
        assert_eq!(
            audit.body["items"].as_array().unwrap().len(),
            3,
            "{}",
            audit.text
        );
    }
);

dual_backend_test!(
    a_staff_provider_manages_agents_and_support_groups,
    |backend: Backend| async move {
        let server = TestServer::service_desk(backend).await;
        let staff = provisioning(&server, "Staff directory", None).await;
        let config = server
            .anonymous()
            .get("/scim/v2/ServiceProviderConfig")
            .await;
        assert_eq!(config.status, 200, "{}", config.text);
        assert_eq!(config.body["patch"]["supported"], true);

        let mut ids = Vec::new();
        for address in ["eve@msp.example", "finn@msp.example", "ann@msp.example"] {
            let created = staff
                .post("/scim/v2/Users", entra_user(address, "A", "B"))
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
            ids.push(created.body["id"].as_str().unwrap().to_owned());
        }
        let eve = server
            .admin()
            .get(&format!("/api/v1/users/{}", ids[0]))
            .await;
        assert_eq!(eve.body["role"], "agent");
        // Customers are not a staff client's to take over.
        let refused = staff
            .post("/scim/v2/Users", entra_user("carol@acme.example", "C", "L"))
            .await;
        scim_error(&refused, 409, Some("uniqueness"));

        let group = staff
            .post(
                "/scim/v2/Groups",
                json!({"displayName": "Network", "externalId": "grp-1",
                       "members": [{"value": ids[0]}, {"value": ids[1]}]}),
            )
            .await;
        assert_eq!(group.status, 201, "{}", group.text);
        let group_id = group.body["id"].as_str().unwrap().to_owned();
        assert_eq!(group.body["members"].as_array().unwrap().len(), 2);
        let members = |reply: &Reply| -> Vec<String> {
            reply.body["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["display"].as_str().unwrap().to_owned())
                .collect()
        };

        // The support group exists in opsdesk with those members.
        let groups = server.admin().get("/api/v1/groups").await;
        let network = groups
            .body
            .as_array()
            .or_else(|| groups.body["items"].as_array())
            .unwrap()
            .iter()
            .find(|g| g["name"] == "Network")
            .cloned()
            .unwrap();
        let mut in_opsdesk: Vec<&str> = network["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        in_opsdesk.sort_unstable();
        assert_eq!(in_opsdesk, ["eve@msp.example", "finn@msp.example"]);

        // Entra ID's member changes.
        let patched = staff
            .patch(
                &format!("/scim/v2/Groups/{group_id}"),
                json!({"Operations": [
                    {"op": "Add", "path": "members", "value": [{"value": ids[2]}]},
                    {"op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0])}
                ]}),
                None,
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.text);
        let mut now = members(&patched);
        now.sort_unstable();
        assert_eq!(now, ["ann@msp.example", "finn@msp.example"]);

        // A member must be one of the client's own users.
        let root = server.user_id("root@msp.example").await;
        let stranger = staff
            .patch(
                &format!("/scim/v2/Groups/{group_id}"),
                json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": root.to_string()}]}]}),
                None,
            )
            .await;
        scim_error(&stranger, 400, Some("invalidValue"));
        let rename = staff
            .patch(
                &format!("/scim/v2/Groups/{group_id}"),
                json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Net"}]}),
                None,
            )
            .await;
        scim_error(&rename, 400, Some("mutability"));

        let listed = staff
            .get("/scim/v2/Groups?filter=displayName%20eq%20%22Network%22")
            .await;
        assert_eq!(listed.body["totalResults"], 1, "{}", listed.text);
        // The list names each group's members as reading the group does.
        let mut in_list: Vec<&str> = listed.body["Resources"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["display"].as_str().unwrap())
            .collect();
        in_list.sort_unstable();
        assert_eq!(in_list, ["ann@msp.example", "finn@msp.example"]);

        // PUT sets the members; DELETE releases the group without its provisioned members.
        let replaced = staff
            .put(
                &format!("/scim/v2/Groups/{group_id}"),
                json!({"displayName": "Network", "members": [{"value": ids[0]}]}),
            )
            .await;
        assert_eq!(members(&replaced), ["eve@msp.example"]);
        let deleted = staff.delete(&format!("/scim/v2/Groups/{group_id}")).await;
        assert_eq!(deleted.status, 204, "{}", deleted.text);
        scim_error(
            &staff.get(&format!("/scim/v2/Groups/{group_id}")).await,
            404,
            None,
        );
        let after = server.admin().get("/api/v1/groups").await;
        assert!(
            after.text.contains("\"Network\""),
            "the group stays: {}",
            after.text
        );
    }
);
