"""``oc process`` for the tests: OpenShift Template parameters, substitution and generation.

Implements what the templates in openshift/ rely on, as documented for template.openshift.io/v1:

- ``${NAME}`` anywhere inside a string is replaced by the parameter's value (as a string);
- a string that is exactly ``${{NAME}}`` is replaced by the value parsed as JSON (a number, a
  boolean...), which is how a template puts a non-string into an integer field;
- a value given on the command line (``-p NAME=value``) wins over the template's ``value``;
- ``generate: expression`` with ``from`` creates a value from a small regex-like expression
  (character classes and ``{n}`` counts, e.g. ``[a-zA-Z0-9]{40}``) when none was given;
- a ``required`` parameter that ends up empty, or a ``-p`` for an unknown parameter, is an error;
- the template's ``labels`` are added to every object's ``metadata.labels``.

Unlike ``oc`` (which leaves an undeclared ``${X}`` untouched) a reference to an undeclared
parameter is an error here, so a typo cannot reach a cluster.
"""
from __future__ import annotations

import copy
import json
import re
import secrets
import string
from pathlib import Path
from typing import Any, Mapping

import yaml

REF = re.compile(r"\$\{(\{)?([A-Za-z_][A-Za-z0-9_]*)\}?\}")
JSON_REF = re.compile(r"^\$\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}$")
_CLASS = re.compile(r"\[([^\]]+)\]\{(\d+)\}")


class TemplateError(ValueError):
    """The template cannot be processed with the given parameters."""


def load(path: str | Path) -> dict:
    """Read one template (YAML or JSON)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def references(node: Any) -> set[str]:
    """Every parameter name referenced by ``${NAME}`` or ``${{NAME}}`` inside ``node``."""
    if isinstance(node, str):
        return {m.group(2) for m in REF.finditer(node)}
    if isinstance(node, Mapping):
        return set().union(*(references(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(references(v) for v in node)) if node else set()
    return set()


def generate(expression: str) -> str:
    """A value for ``generate: expression``: ``[classes]{n}`` groups and literal text.

    :raises TemplateError: on an expression this small generator does not understand.
    """
    out, pos = [], 0
    for match in _CLASS.finditer(expression):
        out.append(expression[pos:match.start()])
        alphabet = _expand_class(match.group(1))
        out.append("".join(secrets.choice(alphabet) for _ in range(int(match.group(2)))))
        pos = match.end()
    tail = expression[pos:]
    if any(ch in tail for ch in "[]{}\\"):
        raise TemplateError(f"unsupported generate expression {expression!r}")
    return "".join(out) + tail


def _expand_class(spec: str) -> str:
    chars, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            chars.append(spec[i])
            i += 1
    if not chars or not set(chars) <= set(string.printable):
        raise TemplateError(f"unsupported character class [{spec}]")
    return "".join(chars)


def resolve(template: dict, params: Mapping[str, str] | None = None) -> dict[str, str]:
    """The final value of every parameter.

    :raises TemplateError: unknown parameter given, or a required parameter without a value.
    """
    params = dict(params or {})
    declared = {p["name"]: p for p in template.get("parameters", [])}
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise TemplateError(f"unknown parameter name(s): {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        value = params.get(name, spec.get("value", ""))
        if not value and spec.get("generate") == "expression":
            value = generate(spec["from"])
        if spec.get("required") and not value:
            raise TemplateError(f"template {template['metadata']['name']}: parameter {name} is required "
                                "and must be given a value")
        values[name] = value
    return values


def _substitute(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        whole = JSON_REF.match(node)
        if whole:
            raw = _lookup(values, whole.group(1))
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                raise TemplateError(f"${{{{{whole.group(1)}}}}} needs a JSON value, not {raw!r}") from None
        return REF.sub(lambda m: _lookup(values, m.group(2)), node)
    if isinstance(node, Mapping):
        return {k: _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    return node


def _lookup(values: Mapping[str, str], name: str) -> str:
    if name not in values:
        raise TemplateError(f"reference to undeclared parameter {name}")
    return values[name]


def process(template: dict, params: Mapping[str, str] | None = None) -> list[dict]:
    """The objects of ``template`` after substitution, as ``oc process`` would output them.

    :raises TemplateError: see :func:`resolve`, or a bad ``${{NAME}}`` value.
    """
    values = resolve(template, params)
    objects = _substitute(copy.deepcopy(template.get("objects", [])), values)
    labels = _substitute(template.get("labels", {}), values)
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return objects
