//! The OpenAPI document promises every response the API gives: these rules hold for every
//! operation, so a new route cannot leave its errors undeclared.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::Value;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Routes that need no login. Making another route public is a decision, made here too.
const PUBLIC: [&str; 15] = [
    "POST /api/v1/session",
    // The challenge a right password earned is the credential for its second factor.
    "POST /api/v1/session/second-factor",
    "DELETE /api/v1/session",
    "GET /api/v1/status/{organization_id}",
    "GET /status/{organization_id}",
    "GET /ping/{token}",
    "POST /ping/{token}",
    "GET /ping/{token}/{signal}",
    "POST /ping/{token}/{signal}",
    // The secret in the path is the credential, as for heartbeats.
    "POST /alerts/{token}",
    // A host agent's enrolment token, then its own credential, is its login.
    "POST /api/v1/agents/enrol",
    "POST /api/v1/agents/report",
    "POST /api/v1/agents/work",
    "POST /api/v1/agents/work/{id}",
    // SCIM clients discover what is supported before they authenticate (RFC 7644 §4).
    "GET /scim/v2/ServiceProviderConfig",
];

/// SCIM answers in its own media type and error format, which provisioning clients parse.
fn is_scim(name: &str) -> bool {
    name.split_once(' ')
        .is_some_and(|(_, path)| path.starts_with("/scim/v2/"))
}

fn document() -> Value {
    serde_json::from_str(&opsdesk_http::openapi_json()).expect("the document is JSON")
}

/// Every operation as ("METHOD /path", operation).
fn operations(document: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((format!("{} {path}", method.to_uppercase()), operation));
            }
        }
    }
    found
}

/// A response, following a `$ref` into `components.responses`.
fn resolve<'a>(document: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected response reference {reference}"));
            &document["components"]["responses"][name]
        }
        None => response,
    }
}

fn statuses(operation: &Value) -> BTreeSet<u16> {
    operation["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|status| status.parse().expect("numeric status"))
        .collect()
}

fn is_secured(document: &Value, operation: &Value) -> bool {
    let requirements = operation.get("security").unwrap_or(&document["security"]);
    requirements.as_array().is_some_and(|list| {
        list.iter()
            .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
    })
}

fn has_parameter_in(operation: &Value, place: &str) -> bool {
    operation["parameters"]
        .as_array()
        .is_some_and(|list| list.iter().any(|p| p["in"] == place))
}

#[test]
fn there_are_operations_to_check() {
    assert!(operations(&document()).len() >= 80);
}

#[test]
fn every_error_response_is_problem_json() {
    let document = document();
    for (name, operation) in operations(&document) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status.parse::<u16>().expect("numeric status") < 400 {
                continue;
            }
            let content = resolve(&document, response)["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} {status}: no content"));
            let types: Vec<&String> = content.keys().collect();
            let (kind, schema) = if is_scim(&name) {
                (
                    "application/scim+json",
                    "#/components/schemas/ScimErrorBody",
                )
            } else {
                ("application/problem+json", "#/components/schemas/Problem")
            };
            assert_eq!(types, [kind], "{name} {status}: errors are {kind} only");
            assert_eq!(content[kind]["schema"]["$ref"], schema, "{name} {status}");
        }
    }
}

#[test]
fn every_operation_declares_the_errors_its_shape_allows() {
    let document = document();
    for (name, operation) in operations(&document) {
        let declared = statuses(operation);
        let mut expected = BTreeSet::from([500]);
        if is_scim(&name) {
            // SCIM reports bad values as 400 with a `scimType`, never 422.
            if is_secured(&document, operation) {
                expected.extend([400, 401, 403, 404, 409, 429]);
            }
            let missing: Vec<&u16> = expected.difference(&declared).collect();
            assert!(missing.is_empty(), "{name} does not declare {missing:?}");
            continue;
        }
        if is_secured(&document, operation) {
            expected.extend([401, 403]);
        }
        if has_parameter_in(operation, "path") {
            expected.extend([400, 404, 422]);
        }
        if has_parameter_in(operation, "query") {
            expected.extend([404, 422]);
        }
        if operation.get("requestBody").is_some() {
            expected.extend([400, 404, 413, 422]);
        }
        if name.starts_with("PATCH ") {
            expected.insert(412);
            assert!(
                operation["parameters"].as_array().is_some_and(|list| list
                    .iter()
                    .any(|p| p["name"] == "If-Match" && p["in"] == "header")),
                "{name} declares If-Match"
            );
        }
        let missing: Vec<&u16> = expected.difference(&declared).collect();
        assert!(missing.is_empty(), "{name} does not declare {missing:?}");
    }
}

#[test]
fn public_routes_are_exactly_the_intended_ones() {
    let document = document();
    let public: BTreeSet<String> = operations(&document)
        .into_iter()
        .filter(|(_, operation)| !is_secured(&document, operation))
        .map(|(name, _)| name)
        .collect();
    let intended: BTreeSet<String> = PUBLIC.iter().map(|name| (*name).to_owned()).collect();
    assert_eq!(public, intended);
    let login = &document["paths"]["/api/v1/session"]["post"];
    assert!(statuses(login).contains(&429), "signing in is rate limited");
}

#[test]
fn path_parameters_match_the_path() {
    let document = document();
    for (name, operation) in operations(&document) {
        let path = name.split_once(' ').map_or("", |(_, path)| path);
        let in_template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(declared, in_template, "{name}: path parameters");
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "query" {
                let types = &parameter["schema"]["type"];
                assert!(
                    types
                        .as_array()
                        .is_none_or(|t| !t.contains(&Value::from("null"))),
                    "{name}: query parameter {} cannot be null in a URL",
                    parameter["name"]
                );
            }
        }
    }
}

/// A schema composed with `allOf` cannot contain a part that forbids other properties: the
/// other parts' properties would then be forbidden too (as `MailTemplate` once was).
#[test]
fn composed_schemas_do_not_forbid_their_own_fields() {
    let document = document();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for (name, schema) in schemas {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let part = match part["$ref"].as_str() {
                Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
                None => part,
            };
            assert_ne!(
                part["additionalProperties"],
                Value::Bool(false),
                "{name}: a part of allOf forbids the other parts' fields"
            );
        }
    }
}
