"""The ``oc process`` stand-in itself: the other deployment tests are only as good as it is."""
import re

import pytest

from tests.support.deploy import templates

TEMPLATE = {
    "apiVersion": "template.openshift.io/v1", "kind": "Template", "metadata": {"name": "t"},
    "labels": {"part-of": "${APP}"},
    "parameters": [
        {"name": "APP", "value": "chris"},
        {"name": "NAMESPACE", "required": True},
        {"name": "REPLICAS", "value": "2"},
        {"name": "TOKEN", "generate": "expression", "from": "[a-f0-9]{16}", "required": True},
        {"name": "HOST", "value": ""},
    ],
    "objects": [{
        "apiVersion": "v1", "kind": "Thing",
        "metadata": {"name": "${APP}-x", "namespace": "${NAMESPACE}"},
        "spec": {"replicas": "${{REPLICAS}}", "image": "img:${APP}", "token": "${TOKEN}", "host": "${HOST}",
                 "list": ["a-${APP}", 7]},
    }],
}


def test_defaults_and_string_substitution():
    obj, = templates.process(TEMPLATE, {"NAMESPACE": "ns"})
    assert obj["metadata"]["name"] == "chris-x"
    assert obj["metadata"]["namespace"] == "ns"
    assert obj["spec"]["image"] == "img:chris"
    assert obj["spec"]["list"] == ["a-chris", 7]
    assert obj["spec"]["host"] == ""


def test_given_value_wins_over_default():
    obj, = templates.process(TEMPLATE, {"NAMESPACE": "ns", "APP": "other"})
    assert obj["metadata"]["name"] == "other-x"
    assert obj["metadata"]["labels"] == {"part-of": "other"}


def test_double_brace_form_yields_a_json_value():
    obj, = templates.process(TEMPLATE, {"NAMESPACE": "ns", "REPLICAS": "5"})
    assert obj["spec"]["replicas"] == 5
    with pytest.raises(templates.TemplateError, match="REPLICAS"):
        templates.process(TEMPLATE, {"NAMESPACE": "ns", "REPLICAS": "five"})


def test_required_parameter_without_value_is_an_error():
    with pytest.raises(templates.TemplateError, match="NAMESPACE is required"):
        templates.process(TEMPLATE)
    with pytest.raises(templates.TemplateError, match="NAMESPACE is required"):
        templates.process(TEMPLATE, {"NAMESPACE": ""})


def test_unknown_parameter_is_an_error():
    with pytest.raises(templates.TemplateError, match="NAMESPCE"):
        templates.process(TEMPLATE, {"NAMESPACE": "ns", "NAMESPCE": "typo"})


def test_reference_to_undeclared_parameter_is_an_error():
    broken = {**TEMPLATE, "objects": [{"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "${NAME}"}}]}
    with pytest.raises(templates.TemplateError, match="undeclared parameter NAME"):
        templates.process(broken, {"NAMESPACE": "ns"})


def test_generated_value_follows_the_expression_and_differs_each_time():
    first, = templates.process(TEMPLATE, {"NAMESPACE": "ns"})
    second, = templates.process(TEMPLATE, {"NAMESPACE": "ns"})
    assert re.fullmatch(r"[a-f0-9]{16}", first["spec"]["token"])
    assert first["spec"]["token"] != second["spec"]["token"]
    given, = templates.process(TEMPLATE, {"NAMESPACE": "ns", "TOKEN": "mine"})
    assert given["spec"]["token"] == "mine"


def test_unsupported_generate_expression_is_an_error():
    with pytest.raises(templates.TemplateError, match="unsupported"):
        templates.generate(r"\w{8}")


def test_template_is_not_modified():
    templates.process(TEMPLATE, {"NAMESPACE": "ns"})
    assert TEMPLATE["objects"][0]["metadata"]["name"] == "${APP}-x"


def test_references_lists_both_forms():
    assert templates.references(TEMPLATE["objects"]) == {"APP", "NAMESPACE", "REPLICAS", "TOKEN", "HOST"}
