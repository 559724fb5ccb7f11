"""Schemathesis hooks for the API contract run (.ci/openapi-contract.sh)."""

import os
import sys

import schemathesis

# Python 3.11 before 3.11.8 reports an AST built near the recursion limit as a SystemError
# (cpython#106905) instead of a RecursionError, and Hypothesis parses source files deep in
# its stack to describe its strategies: a higher limit keeps such parses well clear of it.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

OWN_TOKEN_ID = os.environ.get("OPSDESK_CONTRACT_TOKEN_ID", "")


@schemathesis.hook
def before_call(context, case, kwargs):
    """The run authenticates with one admin token; revoking it (a generated id can be its
    id) would leave every later request unauthenticated and untested. Such a request goes to
    id 0, which no token has, and is answered 404 like any absent token."""
    if (
        case.method.upper() == "DELETE"
        and case.operation.path == "/api/v1/tokens/{id}"
        and case.path_parameters is not None
        and str(case.path_parameters.get("id")) == OWN_TOKEN_ID
    ):
        case.path_parameters["id"] = 0
