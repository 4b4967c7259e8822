"""Structural checks for the OpenShift-only kinds, which kubernetes-validate does not know.

Written from the documented fields of route.openshift.io/v1 Route and template.openshift.io/v1
Template (OpenShift API reference); ``additionalProperties: false`` makes a misspelt field fail.
"""
from __future__ import annotations

import jsonschema

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _NAME, "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}

ROUTE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "route.openshift.io/v1"},
        "kind": {"const": "Route"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["to"],
            "properties": {
                "host": {"type": "string"},
                "subdomain": {"type": "string"},
                "path": {"type": "string", "pattern": "^/"},
                "to": {
                    "type": "object",
                    "required": ["kind", "name"],
                    "properties": {"kind": {"const": "Service"}, "name": _NAME,
                                   "weight": {"type": "integer", "minimum": 0, "maximum": 256}},
                    "additionalProperties": False,
                },
                "alternateBackends": {"type": "array"},
                "port": {
                    "type": "object",
                    "required": ["targetPort"],
                    "properties": {"targetPort": {"type": ["string", "integer"]}},
                    "additionalProperties": False,
                },
                "tls": {
                    "type": "object",
                    "required": ["termination"],
                    "properties": {
                        "termination": {"enum": ["edge", "passthrough", "reencrypt"]},
                        "insecureEdgeTerminationPolicy": {"enum": ["Allow", "None", "Redirect"]},
                        "certificate": {"type": "string"}, "key": {"type": "string"},
                        "caCertificate": {"type": "string"},
                        "destinationCACertificate": {"type": "string"},
                        "externalCertificate": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
                "wildcardPolicy": {"enum": ["None", "Subdomain"]},
                "httpHeaders": {"type": "object"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TEMPLATE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "objects"],
    "properties": {
        "apiVersion": {"const": "template.openshift.io/v1"},
        "kind": {"const": "Template"},
        "metadata": _METADATA,
        "message": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "objects": {
            "type": "array", "minItems": 1,
            "items": {"type": "object", "required": ["apiVersion", "kind", "metadata"]},
        },
        "parameters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "displayName": {"type": "string"},
                    "description": {"type": "string"},
                    "value": {"type": "string"},
                    "generate": {"const": "expression"},
                    "from": {"type": "string"},
                    "required": {"type": "boolean"},
                },
                "dependentRequired": {"generate": ["from"]},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def check(instance: dict, schema: dict) -> None:
    """:raises jsonschema.ValidationError: naming the first offending field."""
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)
