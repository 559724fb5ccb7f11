"""Schemathesis hooks for the API contract run (.ci/openapi-contract.sh)."""

import os
import sys

import schemathesis

# Python 3.11 before 3.11.8 reports an AST built near the recursion limit as a SystemError
# (cpython#106905) instead of a RecursionError, and Hypothesis parses source files deep in
# its stack to describe its strategies: a higher limit keeps such parses well clear of it.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

OWN_TOKEN_ID = os.environ.get("OPSDESK_CONTRACT_TOKEN_ID", "")
OWN_USER_ID = os.environ.get("OPSDESK_CONTRACT_USER_ID", "")

# Requests that would end the run's own access: revoking its token, or revoking every
# token of its user ("sign out everywhere"). Operation and method, with the path parameter
# holding the id, and whose id it must not be.
OWN_ACCESS = {
    ("DELETE", "/api/v1/tokens/{id}"): OWN_TOKEN_ID,
    ("POST", "/api/v1/users/{id}/revoke-access"): OWN_USER_ID,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    """The run authenticates with one admin token; revoking it (a generated id can be its
    id or its user's) would leave every later request unauthenticated and untested. Such a
    request goes to id 0, which no token or user has, and is answered 404 like any absent
    one."""
    own = OWN_ACCESS.get((case.method.upper(), case.operation.path))
    if (
        own
        and case.path_parameters is not None
        and str(case.path_parameters.get("id")) == own
    ):
        case.path_parameters["id"] = 0
