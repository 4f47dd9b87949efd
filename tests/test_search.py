"""Tests for the search filter / order_by grammar (labtrack.search)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import timeit
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labtrack.errors import InvalidParameterValue
from labtrack.search import (
    AGGREGATES,
    EXPERIMENT_SCHEMA,
    NUMBER,
    RUN_SCHEMA,
    STRING,
    And,
    AttributeSpec,
    Comparison,
    EntitySpec,
    Node,
    Or,
    OrderBy,
    SearchSchema,
    SearchSyntaxError,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_by,
    parse_run_filter,
    parse_run_order_by,
    to_filter_string,
)

Value = float | int | str | tuple[str, ...] | None


def metric(key: str, op: str, value: float, aggregate: str = "latest") -> Comparison:
    return Comparison("metric", key, op, value, aggregate)


def param(key: str, op: str, value: str | None) -> Comparison:
    return Comparison("param", key, op, value)


def tag(key: str, op: str, value: str | None) -> Comparison:
    return Comparison("tag", key, op, value)


def attr(key: str, op: str, value: Value) -> Comparison:
    return Comparison("attribute", key, op, value)


def dataset(key: str, op: str, value: Value) -> Comparison:
    return Comparison("dataset", key, op, value)


def and_(*operands: Node) -> And:
    return And(tuple(operands))


def or_(*operands: Node) -> Or:
    return Or(tuple(operands))


# ------------------------------------------------------------------ run filters

RUN_FILTER_CASES: list[tuple[str, Node]] = [
    # entity prefixes and their aliases
    ("metrics.rmse < 7", metric("rmse", "<", 7)),
    ("metric.rmse < 7", metric("rmse", "<", 7)),
    ("`metrics`.rmse < 7", metric("rmse", "<", 7)),
    ("params.alpha = '0.01'", param("alpha", "=", "0.01")),
    ("param.alpha = '0.01'", param("alpha", "=", "0.01")),
    ("parameters.alpha = '0.01'", param("alpha", "=", "0.01")),
    ("parameter.alpha = '0.01'", param("alpha", "=", "0.01")),
    ("tags.team = 'ml'", tag("team", "=", "ml")),
    ("tag.team = 'ml'", tag("team", "=", "ml")),
    ("attributes.status = 'FAILED'", attr("status", "=", "FAILED")),
    ("attribute.status = 'FAILED'", attr("status", "=", "FAILED")),
    ("attr.status = 'FAILED'", attr("status", "=", "FAILED")),
    ("run.status = 'FAILED'", attr("status", "=", "FAILED")),
    ("datasets.name = 'iris'", dataset("name", "=", "iris")),
    ("dataset.name = 'iris'", dataset("name", "=", "iris")),
    # bare attribute names, attribute aliases and canonical names
    ("status = 'FINISHED'", attr("status", "=", "FINISHED")),
    ("run_id = 'abc'", attr("run_id", "=", "abc")),
    ("user_id = 'bob'", attr("user_id", "=", "bob")),
    ("artifact_uri = 's3://b/x'", attr("artifact_uri", "=", "s3://b/x")),
    ("run_name = 'r1'", attr("run_name", "=", "r1")),
    ("\"run name\" = 'r1'", attr("run_name", "=", "r1")),
    ("`run name` = 'r1'", attr("run_name", "=", "r1")),
    ("`Run name` = 'r1'", attr("run_name", "=", "r1")),
    ("\"Run Name\" = 'r1'", attr("run_name", "=", "r1")),
    ("attributes.`run name` ILIKE '%alpha%'", attr("run_name", "ILIKE", "%alpha%")),
    ("attributes.\"Run Name\" ILIKE '%alpha%'", attr("run_name", "ILIKE", "%alpha%")),
    ("start_time > 5", attr("start_time", ">", 5)),
    ("created > 5", attr("start_time", ">", 5)),
    ("Created >= 5", attr("start_time", ">=", 5)),
    ("attributes.created > 1670628787527", attr("start_time", ">", 1670628787527)),
    ("`status` = 'x'", attr("status", "=", "x")),
    ('"created" < 3', attr("start_time", "<", 3)),
    ("end_time != 0", attr("end_time", "!=", 0)),
    ("end_time <= 1.5", attr("end_time", "<=", 1.5)),
    # every operator
    ("metrics.m = 1", metric("m", "=", 1)),
    ("metrics.m != 1", metric("m", "!=", 1)),
    ("metrics.m < 1", metric("m", "<", 1)),
    ("metrics.m <= 1", metric("m", "<=", 1)),
    ("metrics.m > 1", metric("m", ">", 1)),
    ("metrics.m >= 1", metric("m", ">=", 1)),
    ("params.p LIKE 'a%'", param("p", "LIKE", "a%")),
    ("params.p ILIKE 'a%'", param("p", "ILIKE", "a%")),
    ("params.p != 'a'", param("p", "!=", "a")),
    ("params.p IS NULL", param("p", "IS NULL", None)),
    ("params.p IS NOT NULL", param("p", "IS NOT NULL", None)),
    ("tags.t IS NULL", tag("t", "IS NULL", None)),
    ("tags.t IS NOT NULL", tag("t", "IS NOT NULL", None)),
    ("run_id IN ('a', 'b')", attr("run_id", "IN", ("a", "b"))),
    ("run_id NOT IN ('a', 'b')", attr("run_id", "NOT IN", ("a", "b"))),
    ("run_id LIKE 'ab%'", attr("run_id", "LIKE", "ab%")),
    ("datasets.digest IN ('d1')", dataset("digest", "IN", ("d1",))),
    ("datasets.context NOT IN ('train', 'eval')", dataset("context", "NOT IN", ("train", "eval"))),
    ("datasets.context ILIKE 'tr%'", dataset("context", "ILIKE", "tr%")),
    # keywords are case-insensitive
    ("params.p like 'a%'", param("p", "LIKE", "a%")),
    ("params.p iLike 'a%'", param("p", "ILIKE", "a%")),
    ("params.p is null", param("p", "IS NULL", None)),
    ("params.p Is Not Null", param("p", "IS NOT NULL", None)),
    ("params.p IS  \n NOT\tNULL", param("p", "IS NOT NULL", None)),
    ("run_id in ('a')", attr("run_id", "IN", ("a",))),
    ("run_id not in ('a')", attr("run_id", "NOT IN", ("a",))),
    # numbers
    ("metrics.m > -1", metric("m", ">", -1)),
    ("metrics.m > 1.5", metric("m", ">", 1.5)),
    ("metrics.m > .5", metric("m", ">", 0.5)),
    ("metrics.m > -.5", metric("m", ">", -0.5)),
    ("metrics.m > 5.", metric("m", ">", 5.0)),
    ("metrics.m > 1e5", metric("m", ">", 1e5)),
    ("metrics.m > 1E-3", metric("m", ">", 1e-3)),
    ("metrics.m > 1e+3", metric("m", ">", 1000.0)),
    ("metrics.m > -2.5e10", metric("m", ">", -2.5e10)),
    ("metrics.m > 007", metric("m", ">", 7)),
    ("metrics.m > 1e999", metric("m", ">", math.inf)),
    # Beyond 64 bits no column holds the integer: it is compared as a float.
    ("start_time > 99999999999999999999", attr("start_time", ">", 1e20)),
    # keys: quoting, dots, odd characters, leading digits, keywords as keys
    ("metrics.val.loss > 1", metric("val.loss", ">", 1)),
    ("tags.mlflow.runName = 'x'", tag("mlflow.runName", "=", "x")),
    ("metrics.`my metric` > 1", metric("my metric", ">", 1)),
    ("params.\"a b\" = 'x'", param("a b", "=", "x")),
    ("params.'a b' = 'x'", param("a b", "=", "x")),
    ('metrics."X//Y#$$@&Z" = 3', metric("X//Y#$$@&Z", "=", 3)),
    ('metrics."2019-04-02 error rate" < 1', metric("2019-04-02 error rate", "<", 1)),
    ("tags.`mlflow.user` = 'me'", tag("mlflow.user", "=", "me")),
    ("params.1x = 'y'", param("1x", "=", "y")),
    ("params.é = 'y'", param("é", "=", "y")),
    ("params.select = 'y'", param("select", "=", "y")),
    ("params.and = 'y'", param("and", "=", "y")),
    ("params.in = 'y'", param("in", "=", "y")),
    ("params.`` = 'y'", param("", "=", "y")),
    ("params.`a``b` = 'y'", param("a``b", "=", "y")),  # literal between the quotes
    ('params."a""b" = \'y\'', param('a""b', "=", "y")),
    ("params.`x-y`LIKE 'a'", param("x-y", "LIKE", "a")),
    # metric aggregates (labtrack extension)
    ("metrics.rmse.min < 1", metric("rmse", "<", 1, "min")),
    ("metrics.rmse.max < 1", metric("rmse", "<", 1, "max")),
    ("metrics.rmse.count > 10", metric("rmse", ">", 10, "count")),
    ("metrics.val.loss.min < 1", metric("val.loss", "<", 1, "min")),
    ("metrics.`loss.min` < 1", metric("loss.min", "<", 1)),
    ('metrics."loss.max" < 1', metric("loss.max", "<", 1)),
    ("metrics.`val loss`.max < 1", metric("val loss", "<", 1, "max")),
    ("metrics.loss.MIN < 1", metric("loss.MIN", "<", 1)),  # suffixes are lower-case only
    ("metrics.loss.latest < 1", metric("loss.latest", "<", 1)),
    ("params.p.min = 'x'", param("p.min", "=", "x")),  # only metrics have aggregates
    # strings are literal between their quotes (MLflow does not unescape)
    ('params.p = "x"', param("p", "=", "x")),
    ("params.p = 'x y'", param("p", "=", "x y")),
    ("params.p = ''", param("p", "=", "")),
    ('params.p = ""', param("p", "=", "")),
    ("params.p = 'it''s'", param("p", "=", "it''s")),
    ("params.p = 'it\\'s'", param("p", "=", "it\\'s")),
    ('params.p = "L\'Hosp"', param("p", "=", "L'Hosp")),
    ("params.p = 'say \"hi\"'", param("p", "=", 'say "hi"')),
    ("params.p = 'a\\'", param("p", "=", "a\\")),
    ("params.p = 'multi\nline'", param("p", "=", "multi\nline")),
    ("params.p = 'a\\nb'", param("p", "=", "a\\nb")),
    # labtrack's escaped strings: E'...' with backslash escapes
    ("params.p = E'it\\'s \"x\"'", param("p", "=", 'it\'s "x"')),
    ("params.p = e'a\\nb\\\\'", param("p", "=", "a\nb\\")),
    ("params.E'odd`key' = 'v'", param("odd`key", "=", "v")),
    # IN lists read like Python literals, as MLflow's ast.literal_eval does
    ("run_id IN ('a',)", attr("run_id", "IN", ("a",))),
    ("run_id IN ( 'a' , \"b\" , )", attr("run_id", "IN", ("a", "b"))),
    ("run_id IN('a')", attr("run_id", "IN", ("a",))),
    ("run_id IN ('a' 'b')", attr("run_id", "IN", ("ab",))),
    ("run_id IN ('it''s')", attr("run_id", "IN", ("its",))),
    ("run_id IN ('it\\'s')", attr("run_id", "IN", ("it's",))),
    ("run_id IN ('a\\nb', 'x\\x41\\u00e9')", attr("run_id", "IN", ("a\nb", "xAé"))),
    ("run_id IN ('a\\d')", attr("run_id", "IN", ("a\\d",))),
    ("run_id IN ('a',\n'b')", attr("run_id", "IN", ("a", "b"))),
    # whitespace
    ("metrics.a>1", metric("a", ">", 1)),
    ("params.m!='tf'", param("m", "!=", "tf")),
    ("\tmetrics.a\n>\n1  ", metric("a", ">", 1)),
    # AND, flattening, MLflow's tolerance for stray / missing ANDs
    (
        "metrics.rmse < 7 and params.alpha = '0.01'",
        and_(metric("rmse", "<", 7), param("alpha", "=", "0.01")),
    ),
    (
        "metrics.a > 1 AND metrics.b > 2 AND metrics.c > 3",
        and_(metric("a", ">", 1), metric("b", ">", 2), metric("c", ">", 3)),
    ),
    ("params.a = 'x'AND params.b = 'y'", and_(param("a", "=", "x"), param("b", "=", "y"))),
    ("metrics.a > 1e5and metrics.b > 2", and_(metric("a", ">", 1e5), metric("b", ">", 2))),
    ("metrics.a > 1 and", metric("a", ">", 1)),
    ("AND metrics.a > 1", metric("a", ">", 1)),
    ("metrics.a > 1 AND AND metrics.b > 2", and_(metric("a", ">", 1), metric("b", ">", 2))),
    ("metrics.a > 1 metrics.b > 2", and_(metric("a", ">", 1), metric("b", ">", 2))),
    ("tags.a IS NULL metrics.x > 1", and_(tag("a", "IS NULL", None), metric("x", ">", 1))),
    # OR and parentheses (labtrack extension); AND binds tighter than OR
    ("metrics.a > 1 OR metrics.b > 2", or_(metric("a", ">", 1), metric("b", ">", 2))),
    (
        "metrics.a > 1 or metrics.b > 2 and metrics.c > 3",
        or_(metric("a", ">", 1), and_(metric("b", ">", 2), metric("c", ">", 3))),
    ),
    (
        "metrics.a > 1 AND metrics.b > 2 OR metrics.c > 3",
        or_(and_(metric("a", ">", 1), metric("b", ">", 2)), metric("c", ">", 3)),
    ),
    (
        "(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3",
        and_(or_(metric("a", ">", 1), metric("b", ">", 2)), metric("c", ">", 3)),
    ),
    ("(metrics.a > 1)", metric("a", ">", 1)),
    ("((metrics.a > 1))", metric("a", ">", 1)),
    (
        "(metrics.a > 1 AND metrics.b > 2) AND (metrics.c > 3 AND metrics.d > 4)",
        and_(metric("a", ">", 1), metric("b", ">", 2), metric("c", ">", 3), metric("d", ">", 4)),
    ),
    (
        "metrics.a > 1 OR (metrics.b > 2 OR metrics.c > 3)",
        or_(metric("a", ">", 1), metric("b", ">", 2), metric("c", ">", 3)),
    ),
    (
        "metrics.a>1 and(metrics.b>2 or(metrics.c>3))",
        and_(metric("a", ">", 1), or_(metric("b", ">", 2), metric("c", ">", 3))),
    ),
    (
        "(params.m = 'rf' OR params.m = 'gb') AND tags.`team name` LIKE 'ml-%' "
        "AND metrics.f1.max >= 0.9",
        and_(
            or_(param("m", "=", "rf"), param("m", "=", "gb")),
            tag("team name", "LIKE", "ml-%"),
            metric("f1", ">=", 0.9, "max"),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), RUN_FILTER_CASES)
def test_parse_run_filter(text: str, expected: Node) -> None:
    assert parse_run_filter(text) == expected


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t", "AND", " and AND "])
def test_empty_run_filter_is_none(text: str | None) -> None:
    assert parse_run_filter(text) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [("metrics.a > 7", int), ("metrics.a > 7.0", float), ("start_time > 1e3", float)],
)
def test_number_types_follow_the_literal(text: str, kind: type) -> None:
    node = parse_run_filter(text)
    assert isinstance(node, Comparison)
    assert type(node.value) is kind


RUN_FILTER_ERRORS: list[tuple[str, str, int | None]] = [
    ("metrics.rmse << 7", "expected a comparison operator, got '<<'", 13),
    ("metrics.a == 1", "expected a comparison operator, got '=='", 10),
    ("metrics.a <> 1", "expected a comparison operator, got '<>'", 10),
    ("metrics.a ! = 1", "expected a comparison operator, got '!'", 10),
    ("metrics.a 1", "expected a comparison operator, got '1'", 10),
    ("metrics.a", "expected a comparison operator, got end of input", 9),
    # wrong operator for the entity
    ("params.a > '1'", "operator > is not allowed for param 'a'", 9),
    ("tags.a <= 'x'", "operator <= is not allowed for tag 'a'", 7),
    ("metrics.x LIKE '%'", "operator LIKE is not allowed for metric 'x'", 10),
    ("metrics.x IS NULL", "operator IS NULL is not allowed for metric 'x'", 10),
    ("metrics.x.min IN (1)", "operator IN is not allowed for metric 'x.min'", 14),
    ("status > 'x'", "operator > is not allowed for attribute 'status'", 7),
    ("start_time LIKE 5", "expected one of =, !=, <, <=, >, >=", 11),
    ("run_id IS NULL", "operator IS NULL is not allowed for attribute 'run_id'", 7),
    ("datasets.name > 'a'", "operator > is not allowed for dataset field 'name'", 14),
    ("datasets.name IS NULL", "operator IS NULL is not allowed for dataset field 'name'", 14),
    ("params.a NOT LIKE 'x'", "expected IN after NOT, got 'LIKE'", 13),
    ("params.a IS 'x'", "expected NULL or NOT NULL after IS, got \"'x'\"", 12),
    ("params.a IS NOT 'x'", "expected NULL or NOT NULL after IS", 16),
    # IN only for run_id and dataset fields; non-empty list of strings
    ("status IN ('a')", "operator IN is not allowed for attribute 'status'", 7),
    ("run_name IN ('a', 'b')", "operator IN is not allowed for attribute 'run_name'", 9),
    ("params.p IN ('a')", "operator IN is not allowed for param 'p'", 9),
    ("tags.release IN ('v1.0', 'v1.1')", "operator IN is not allowed for tag 'release'", 13),
    ("run_id IN ()", "empty list after IN", 11),
    ("run_id NOT IN ( )", "empty list after NOT IN", 16),
    ("run_id IN (,)", "expected a quoted string in the list, got ','", 11),
    ("run_id IN (1, 2)", "expected a quoted string in the list, got '1'", 11),
    ("run_id IN 'a'", "expected a parenthesised list of quoted strings after IN", 10),
    ("run_id IN ('a'", "expected ',' or ')' in the list, got end of input", 14),
    ("run_id IN ('a' 'b' x)", "expected ',' or ')' in the list, got 'x'", 19),
    ("run_id IN ('a)", "unterminated string in list", 11),
    ("run_id IN (('a'))", "expected a quoted string in the list, got '('", 11),
    ("run_id = ('a')", "a list of values needs IN or NOT IN", 9),
    ("run_id IN ('\\N{NO SUCH NAME}')", "invalid escape sequence", 11),
    # value types
    ("metrics.x = 'a'", "expected a number for metric 'x', got \"'a'\"", 12),
    ("metrics.x = '5'", "numbers are written without quotes", 12),
    ("metrics.x = NaN", "NaN and infinity are not supported", 12),
    ("metrics.x = inf", "expected a number for metric 'x', got 'inf'", 12),
    ("metrics.x = - 1", "expected a number for metric 'x', got '-'", 12),
    ("metrics.x = +1", "expected a number for metric 'x', got '+'", 12),
    ("metrics.x.count >", "expected a number for metric 'x.count', got end of input", 17),
    ("start_time > '5'", "expected a number for attribute 'start_time'", 13),
    ("params.a = 1", "expected a quoted string for param 'a', got '1' (quote it: '1')", 11),
    ("params.a = LR", "expected a quoted string for param 'a', got 'LR'", 11),
    ("params.a = `LR`", "expected a quoted string for param 'a'", 11),
    ("attributes.status = true", "expected a quoted string for attribute 'status'", 20),
    ("status = 1", "expected a quoted string for attribute 'status', got '1'", 9),
    ("params.a = 'LR", "unterminated quoted text", 11),
    ("tags.acc = \"LR'", "unterminated quoted text", 11),
    ("params.a = E'x", "unterminated E'...' string", 11),
    ("metrics.x > 1" + "0" * 5000, "number has too many digits", 12),
    # unknown entities and attributes
    ("foo.a > 1", "unknown entity 'foo' for run search: expected one of metrics., params.", 0),
    ("m.acc >= 0.94", "unknown entity 'm'", 0),
    ("Metrics.a > 1", "unknown entity 'Metrics'", 0),
    ("acc >= 0.94", "unknown attribute 'acc' for run search: expected one of run_id, run_name", 0),
    ("RUN_ID = 'x'", "unknown attribute 'RUN_ID'", 0),
    ("lifecycle_stage = 'active'", "unknown attribute 'lifecycle_stage'", 0),
    ("attribute.experiment_id != '1'", "unknown attribute 'experiment_id'", 10),
    ("attributes.start != 1", "unknown attribute 'start'", 11),
    ("run name = 'x'", "expected '.' and a key after 'run'", 3),
    ("'run name' = 'x'", "expected an identifier such as metrics.<key> or params.<key>", 0),
    (
        "dataset.status = 'true'",
        "unknown dataset field 'status' for run search: expected one of",
        8,
    ),
    ("dataset.profile = 'x'", "unknown dataset field 'profile'", 8),
    ("metrics .a > 1", "expected '.' and a key after 'metrics'", 7),
    ("metrics. a > 1", "expected a key after 'metrics.', got ' a > 1'", 8),
    ("metrics.", "expected a key after 'metrics.', got end of input", 8),
    (
        "metrics.my-metric > 1",
        "unexpected '-' after key: put keys containing special characters",
        10,
    ),
    ("metrics.a/b > 1", "unexpected '/' after key", 9),
    ("metrics.a. > 1", "unexpected '.' after key", 9),
    ("params.a$b = 'x'", "unexpected '$' after key", 8),
    ("metrics.`a`.b > 1", "expected an aggregate (min, max or count) after the quoted key", 12),
    ("metrics.`a.min > 1", "unterminated quoted text", 8),
    ("`metrics.A > 0.1", "unterminated quoted text", 0),
    ("1.0 > metrics.acc", "expected an identifier such as metrics.<key>", 0),
    ("1=1", "expected an identifier", 0),
    ("= 1", "expected an identifier", 0),
    ("NOT metrics.a > 1", "got keyword 'NOT'", 0),
    # structure
    ("metrics.a > 1 OR", "expected an identifier", 16),
    ("OR metrics.a > 1", "got keyword 'OR'", 0),
    ("metrics.a > 1 AND OR metrics.b > 1", "got keyword 'OR'", 18),
    ("metrics.A > 0.1 NAND params.B = 'LR'", "expected AND, OR or end of input, got 'NAND'", 16),
    ("metrics.a > 1 garbage", "expected AND, OR or end of input, got 'garbage'", 14),
    ("metrics.a > 1x", "expected AND, OR or end of input, got 'x'", 13),
    ("metrics.a > 1.5.5", "expected AND, OR or end of input, got '.5'", 15),
    ("metrics.a > 1_000", "expected AND, OR or end of input, got '_000'", 13),
    ("metrics.a > 1;", "expected AND, OR or end of input, got ';'", 13),
    ("metric.acc >= 0.94; metrics.rmse < 1", "got ';'", 18),
    ("metrics.a > 1 -- comment", "expected AND, OR or end of input, got '-'", 14),
    ("params.a = 'x' y", "expected AND, OR or end of input, got 'y'", 15),
    ("params.a = 'x' 'y'", "got \"'y'\"", 15),
    ("metrics.a > 1)", "unbalanced parenthesis: ')' without a matching '('", 13),
    ("(metrics.a > 1", "expected ')' to close the '(' at position 0, got end of input", 14),
    ("((metrics.a > 1)", "expected ')' to close the '(' at position 0", 16),
    ("(metrics.a > 1 x)", "expected AND, OR, ')' or end of input, got 'x'", 15),
    ("()", "expected an identifier", 1),
    ("metrics.a > 1 (metrics.b > 2)", "expected AND, OR or end of input, got '('", 14),
    ("metrics.a > (1)", "expected a number for metric 'a', got '('", 12),
    ("(" * 150 + "metrics.a > 1" + ")" * 150, "parentheses nested deeper than 100 levels", 100),
]


# A message opens with MLflow's server's words for the kind of error, then says where.
FILTER_OPENINGS = (
    "Invalid clause(s) in filter string '",
    "Invalid comparator '",
    "Invalid entity type '",
    "Invalid attribute key '",
    "Invalid dataset key '",
    "Expected numeric value type in filter '",
    "Expected a quoted string value in filter '",
)


@pytest.mark.parametrize(("text", "fragment", "position"), RUN_FILTER_ERRORS)
def test_run_filter_errors(text: str, fragment: str, position: int | None) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse_run_filter(text)
    error = info.value
    assert fragment in error.message
    assert error.position == position
    assert error.message.startswith(FILTER_OPENINGS)
    assert f"at position {position}: " in error.message
    assert len(error.message.splitlines()) == 1


def test_error_is_an_invalid_parameter_value() -> None:
    with pytest.raises(InvalidParameterValue) as info:
        parse_run_filter("metrics.rmse << 7")
    error = info.value
    assert isinstance(error, SearchSyntaxError)
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert error.http_status == 400
    assert error.message == (
        "Invalid comparator '<<' in filter 'metrics.rmse << 7' at position 13: "
        "expected a comparison operator, got '<<'"
    )
    assert error.to_json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": error.message}


def test_error_message_stays_on_one_line_and_short() -> None:
    text = "params.a = 'x'\n\u2028\x85" * 100 + "garbage"
    with pytest.raises(SearchSyntaxError) as info:
        parse_run_filter(text)
    assert len(info.value.message.splitlines()) == 1
    assert info.value.position == len(text) - len("garbage")
    assert len(info.value.message) < 400


def test_non_string_filter_is_rejected() -> None:
    with pytest.raises(SearchSyntaxError, match="expected a string"):
        parse_run_filter(42)  # type: ignore[arg-type]


def test_double_quoted_prefix_is_accepted() -> None:
    # MLflow only accepts backticks around the prefix; labtrack also takes double quotes.
    assert parse_run_filter('"metrics".a > 1') == metric("a", ">", 1)


# -------------------------------------------------------------- run order_by

RUN_ORDER_BY_CASES: list[tuple[str, OrderBy]] = [
    ("metrics.rmse", OrderBy("metric", "rmse")),
    ("metrics.rmse ASC", OrderBy("metric", "rmse", True)),
    ("metrics.rmse DESC", OrderBy("metric", "rmse", False)),
    ("metrics.rmse desc", OrderBy("metric", "rmse", False)),
    ("metrics.key1 asc", OrderBy("metric", "key1", True)),
    ('metrics."key1"  desc', OrderBy("metric", "key1", False)),
    ("metrics.`Mean Square Error` DESC", OrderBy("metric", "Mean Square Error", False)),
    ("metric.val.loss", OrderBy("metric", "val.loss")),
    ("`metrics`.a Desc", OrderBy("metric", "a", False)),
    ("metrics.rmse.min", OrderBy("metric", "rmse", True, "min")),
    ("metrics.rmse.max DESC", OrderBy("metric", "rmse", False, "max")),
    ("metrics.rmse.count", OrderBy("metric", "rmse", True, "count")),
    ("metrics.`rmse.min` DESC", OrderBy("metric", "rmse.min", False)),
    ("metrics.`val loss`.min", OrderBy("metric", "val loss", True, "min")),
    ("params.my_param aSc", OrderBy("param", "my_param", True)),
    ("params.`my_param` DESC", OrderBy("param", "my_param", False)),
    ("param.lr", OrderBy("param", "lr")),
    ("parameters.lr", OrderBy("param", "lr")),
    ("tags.tag1    DESC", OrderBy("tag", "tag1", False)),
    ("tag.`mlflow.runName`", OrderBy("tag", "mlflow.runName")),
    ("attributes.status  ASC", OrderBy("attribute", "status", True)),
    ("attribute.start_time DESC", OrderBy("attribute", "start_time", False)),
    ("attr.end_time", OrderBy("attribute", "end_time")),
    ("run.run_name", OrderBy("attribute", "run_name")),
    ("start_time DESC", OrderBy("attribute", "start_time", False)),
    ("created", OrderBy("attribute", "start_time")),
    ("Created DESC", OrderBy("attribute", "start_time", False)),
    ("run_name", OrderBy("attribute", "run_name")),
    ("`run name` DESC", OrderBy("attribute", "run_name", False)),
    ("status", OrderBy("attribute", "status")),
    ("run_id", OrderBy("attribute", "run_id")),
    ("user_id", OrderBy("attribute", "user_id")),
    ("artifact_uri", OrderBy("attribute", "artifact_uri")),
    ("end_time", OrderBy("attribute", "end_time")),
    (" metrics.a DESC ", OrderBy("metric", "a", False)),
]


@pytest.mark.parametrize(("text", "expected"), RUN_ORDER_BY_CASES)
def test_parse_run_order_by(text: str, expected: OrderBy) -> None:
    assert parse_run_order_by([text]) == [expected]


def test_run_order_by_lists() -> None:
    assert parse_run_order_by(None) == []
    assert parse_run_order_by([]) == []
    assert parse_run_order_by(["params.my_param DESC", "attributes.status   DESC"]) == [
        OrderBy("param", "my_param", False),
        OrderBy("attribute", "status", False),
    ]
    # A single string is one clause, not a sequence of one-character clauses.
    assert parse_run_order_by("metrics.a DESC") == [OrderBy("metric", "a", False)]
    # Different aggregates of one metric are different keys.
    assert len(parse_run_order_by(["metrics.a.min", "metrics.a.max", "metrics.a"])) == 3


RUN_ORDER_BY_ERRORS: list[tuple[str, str, int]] = [
    ("", "empty clause", 0),
    ("   ", "empty clause", 3),
    ("m.acc", "unknown entity 'm'", 0),
    ("acc", "unknown attribute 'acc'", 0),
    ("attri.x", "unknown entity 'attri'", 0),
    ("`metrics.A", "unterminated quoted text", 0),
    ("`metrics.A`", "unknown attribute 'metrics.A'", 0),
    ("attribute.start", "unknown attribute 'start'", 10),
    ("attribute.experiment_id", "unknown attribute 'experiment_id'", 10),
    ("lifecycle_stage", "unknown attribute 'lifecycle_stage'", 0),
    ("timestamp", "unknown attribute 'timestamp'", 0),
    ("metrics.A != 1", "expected ASC, DESC or end of input, got '!='", 10),
    ("attribute.run_id ACS", "expected ASC, DESC or end of input, got 'ACS'", 17),
    ("attribute.run_id decs", "got 'decs'", 17),
    ("metrics.a DESCENDING", "got 'DESCENDING'", 10),
    ("metrics.a b", "got 'b'", 10),
    ("metrics.a DESC NULLS LAST", "expected end of input, got 'NULLS'", 15),
    ("metrics.a, metrics.b", "pass each order_by clause as a separate list item", 9),
    ("datasets.name", "cannot order runs by dataset field 'name'", 9),
    ("metrics.my-metric", "unexpected '-' after key", 10),
    ("metrics.`a`.b", "expected an aggregate (min, max or count)", 12),
    ("foo.a", "unknown entity 'foo' for run search", 0),
]


ORDER_BY_OPENINGS = (
    "Invalid order_by clause '",
    "Invalid ordering key in order_by clause '",
    "Invalid entity type '",
    "Invalid attribute key '",
)


@pytest.mark.parametrize(("text", "fragment", "position"), RUN_ORDER_BY_ERRORS)
def test_run_order_by_errors(text: str, fragment: str, position: int) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse_run_order_by(["metrics.ok", text])
    assert fragment in info.value.message
    assert info.value.position == position
    assert info.value.message.startswith(ORDER_BY_OPENINGS)


def test_run_order_by_rejects_duplicates_and_non_strings() -> None:
    with pytest.raises(SearchSyntaxError, match=r"start_time appears more than once"):
        parse_run_order_by(["start_time DESC", "created"])
    with pytest.raises(SearchSyntaxError, match=r"metrics\.a\.min appears more than once"):
        parse_run_order_by(["metrics.a.min", "metrics.a.min DESC"])
    with pytest.raises(SearchSyntaxError, match="expected a string"):
        parse_run_order_by([1])  # type: ignore[list-item]


# ------------------------------------------------------------------ experiments

EXPERIMENT_FILTER_CASES: list[tuple[str, Node]] = [
    ("name = 'x'", attr("name", "=", "x")),
    ("name != 'x'", attr("name", "!=", "x")),
    ("name LIKE 'x%'", attr("name", "LIKE", "x%")),
    ("name like 'x%'", attr("name", "LIKE", "x%")),
    ("name ILIKE '%x%'", attr("name", "ILIKE", "%x%")),
    ('name LIKE "jamie-foo C+%"', attr("name", "LIKE", "jamie-foo C+%")),
    ("attribute.name = 'x'", attr("name", "=", "x")),
    ("attributes.name = 'x'", attr("name", "=", "x")),
    ("attr.`name` = 'x'", attr("name", "=", "x")),
    ("\"name\" = 'x'", attr("name", "=", "x")),
    ("creation_time > 100", attr("creation_time", ">", 100)),
    ("creation_time >= -1", attr("creation_time", ">=", -1)),
    ("last_update_time < 5", attr("last_update_time", "<", 5)),
    ("last_update_time != 1.5", attr("last_update_time", "!=", 1.5)),
    ("experiment_id = '1'", attr("experiment_id", "=", "1")),
    ('experiment_id != "2"', attr("experiment_id", "!=", "2")),
    ("experiment_id IN ('1', '2')", attr("experiment_id", "IN", ("1", "2"))),
    ("experiment_id NOT IN ('1')", attr("experiment_id", "NOT IN", ("1",))),
    ("tags.a = 'x'", tag("a", "=", "x")),
    ("tag.a != 'x'", tag("a", "!=", "x")),
    ("tags.`a b` LIKE '%x%'", tag("a b", "LIKE", "%x%")),
    ("tags.k ILIKE '%v'", tag("k", "ILIKE", "%v")),
    ("tags.a IS NULL", tag("a", "IS NULL", None)),
    ("tags.a IS NOT NULL", tag("a", "IS NOT NULL", None)),
    ("tags.a.min = 'x'", tag("a.min", "=", "x")),
    (
        "name = 'a' AND tags.b = 'c'",
        and_(attr("name", "=", "a"), tag("b", "=", "c")),
    ),
    (
        "(name LIKE 'a%' OR name LIKE 'b%') and creation_time > 5",
        and_(
            or_(attr("name", "LIKE", "a%"), attr("name", "LIKE", "b%")),
            attr("creation_time", ">", 5),
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), EXPERIMENT_FILTER_CASES)
def test_parse_experiment_filter(text: str, expected: Node) -> None:
    assert parse_experiment_filter(text) == expected


EXPERIMENT_FILTER_ERRORS: list[tuple[str, str, int]] = [
    ("metrics.a > 1", "unknown entity 'metrics' for experiment search: expected one of", 0),
    ("params.a = 'x'", "unknown entity 'params'", 0),
    ("run.name = 'x'", "unknown entity 'run'", 0),
    ("lifecycle_stage = 'active'", "unknown attribute 'lifecycle_stage' for experiment search", 0),
    ("status = 'x'", "unknown attribute 'status'", 0),
    ("name IS NULL", "operator IS NULL is not allowed for attribute 'name'", 5),
    ("name IN ('a')", "operator IN is not allowed for attribute 'name'", 5),
    ("name > 'a'", "operator > is not allowed for attribute 'name'", 5),
    ("experiment_id LIKE '1'", "operator LIKE is not allowed for attribute 'experiment_id'", 14),
    ("experiment_id > '1'", "expected one of =, !=, IN, NOT IN", 14),
    ("experiment_id = 1", "expected a quoted string for attribute 'experiment_id'", 16),
    ("creation_time = '5'", "expected a number for attribute 'creation_time'", 16),
    ("creation_time LIKE 5", "operator LIKE is not allowed", 14),
    ("tags.a > 'x'", "operator > is not allowed for tag 'a'", 7),
    ("tags.a IN ('x')", "operator IN is not allowed for tag 'a'", 7),
    ("datasets.name = 'x'", "unknown entity 'datasets'", 0),
]


@pytest.mark.parametrize(("text", "fragment", "position"), EXPERIMENT_FILTER_ERRORS)
def test_experiment_filter_errors(text: str, fragment: str, position: int) -> None:
    with pytest.raises(SearchSyntaxError) as info:
        parse_experiment_filter(text)
    assert fragment in info.value.message
    assert info.value.position == position


EXPERIMENT_ORDER_BY_CASES: list[tuple[str, OrderBy]] = [
    ("name", OrderBy("attribute", "name")),
    ("name DESC", OrderBy("attribute", "name", False)),
    ("experiment_id ASC", OrderBy("attribute", "experiment_id")),
    ("creation_time DESC", OrderBy("attribute", "creation_time", False)),
    ("creation_time desc", OrderBy("attribute", "creation_time", False)),
    ("last_update_time", OrderBy("attribute", "last_update_time")),
    ("attribute.name", OrderBy("attribute", "name")),
    ("attributes.last_update_time DESC", OrderBy("attribute", "last_update_time", False)),
    ("`name` ASC", OrderBy("attribute", "name")),
]


@pytest.mark.parametrize(("text", "expected"), EXPERIMENT_ORDER_BY_CASES)
def test_parse_experiment_order_by(text: str, expected: OrderBy) -> None:
    assert parse_experiment_order_by([text]) == [expected]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tags.a", "cannot order experiments by tag 'a'"),
        ("lifecycle_stage", "unknown attribute 'lifecycle_stage'"),
        ("metrics.a", "unknown entity 'metrics'"),
        ("name bad", "expected ASC, DESC or end of input, got 'bad'"),
    ],
)
def test_experiment_order_by_errors(text: str, fragment: str) -> None:
    with pytest.raises(SearchSyntaxError, match="order_by clause") as info:
        parse_experiment_order_by([text])
    assert fragment in info.value.message
    assert info.value.message.startswith(ORDER_BY_OPENINGS)


def test_experiment_order_by_allows_repeats_like_mlflow() -> None:
    assert parse_experiment_order_by(["name", "name DESC"]) == [
        OrderBy("attribute", "name"),
        OrderBy("attribute", "name", False),
    ]


# --------------------------------------------------- samples from MLflow itself

MlflowExpectation = list[tuple[str, str, str, Value]]

# Filter strings from MLflow's documentation ("Search Runs") and its own test suite
# (tests/utils/test_search_utils.py), with the meaning MLflow gives them.
MLFLOW_RUN_FILTER_SAMPLES: list[tuple[str, MlflowExpectation]] = [
    ("metrics.accuracy > 0.92", [("metric", "accuracy", ">", 0.92)]),
    ('attributes.status = "FINISHED"', [("attribute", "status", "=", "FINISHED")]),
    ('attributes.status = "FAILED"', [("attribute", "status", "=", "FAILED")]),
    ("attributes.created > 1670628787527", [("attribute", "start_time", ">", 1670628787527)]),
    ("attributes.Created > 1670628787527", [("attribute", "start_time", ">", 1670628787527)]),
    ("attributes.start_time > 1670628787527", [("attribute", "start_time", ">", 1670628787527)]),
    ("metrics.`f1 score` > 0.5", [("metric", "f1 score", ">", 0.5)]),
    ("tags.`mlflow.user` = 'john@mlflow.com'", [("tag", "mlflow.user", "=", "john@mlflow.com")]),
    ("tags.`model` LIKE 'sklearn%'", [("tag", "model", "LIKE", "sklearn%")]),
    ("tags.`type` ILIKE '%Logistic%'", [("tag", "type", "ILIKE", "%Logistic%")]),
    ('attributes.`run_name` ILIKE "%alpha%"', [("attribute", "run_name", "ILIKE", "%alpha%")]),
    ('attributes.`run name` ILIKE "%alpha%"', [("attribute", "run_name", "ILIKE", "%alpha%")]),
    ('attributes.`Run name` ILIKE "%alpha%"', [("attribute", "run_name", "ILIKE", "%alpha%")]),
    ('attributes.`Run Name` ILIKE "%alpha%"', [("attribute", "run_name", "ILIKE", "%alpha%")]),
    (
        'params.alpha = "0.3" and params.lambda = "0.001" and metrics.error <= 0.05',
        [
            ("param", "alpha", "=", "0.3"),
            ("param", "lambda", "=", "0.001"),
            ("metric", "error", "<=", 0.05),
        ],
    ),
    (
        'params.model = "LogisticRegression" and params.lambda = "0.001" and metrics.error <= 0.05',
        [
            ("param", "model", "=", "LogisticRegression"),
            ("param", "lambda", "=", "0.001"),
            ("metric", "error", "<=", 0.05),
        ],
    ),
    ('params."model-type" = "x"', [("param", "model-type", "=", "x")]),
    ("metrics.`error rate` < 1", [("metric", "error rate", "<", 1)]),
    ('metrics."2019-04-02 error rate" < 1', [("metric", "2019-04-02 error rate", "<", 1)]),
    ("metric.acc >= 0.94", [("metric", "acc", ">=", 0.94)]),
    ("metric.acc>=100", [("metric", "acc", ">=", 100)]),
    ("params.m!='tf'", [("param", "m", "!=", "tf")]),
    ('params."m"!="tf"', [("param", "m", "!=", "tf")]),
    ('metric."legit name" >= 0.243', [("metric", "legit name", ">=", 0.243)]),
    ("metrics.XYZ = 3", [("metric", "XYZ", "=", 3)]),
    ('params."cat dog" = "pets"', [("param", "cat dog", "=", "pets")]),
    ('metrics."X-Y-Z" = 3', [("metric", "X-Y-Z", "=", 3)]),
    ('metrics."X//Y#$$@&Z" = 3', [("metric", "X//Y#$$@&Z", "=", 3)]),
    ("params.model = 'LinearRegression'", [("param", "model", "=", "LinearRegression")]),
    (
        "metrics.rmse < 1 and params.model_class = 'LR'",
        [("metric", "rmse", "<", 1), ("param", "model_class", "=", "LR")],
    ),
    ("", []),
    ("`metric`.a >= 0.1", [("metric", "a", ">=", 0.1)]),
    ("tags.version = 'commit-hash'", [("tag", "version", "=", "commit-hash")]),
    ("`tags`.source_name = 'a notebook'", [("tag", "source_name", "=", "a notebook")]),
    ('metrics."accuracy.2.0" > 5', [("metric", "accuracy.2.0", ">", 5)]),
    ("metrics.`spacey name` > 5", [("metric", "spacey name", ">", 5)]),
    ('params."p.a.r.a.m" != "a"', [("param", "p.a.r.a.m", "!=", "a")]),
    ('tags."t.a.g" = "a"', [("tag", "t.a.g", "=", "a")]),
    ("attribute.artifact_uri = '1/23/4'", [("attribute", "artifact_uri", "=", "1/23/4")]),
    ("attribute.start_time >= 1234", [("attribute", "start_time", ">=", 1234)]),
    ("run.status = 'RUNNING'", [("attribute", "status", "=", "RUNNING")]),
    ("dataset.name = 'my_dataset'", [("dataset", "name", "=", "my_dataset")]),
    ("tags.version IS NULL", [("tag", "version", "IS NULL", None)]),
    ("tags.version IS NOT NULL", [("tag", "version", "IS NOT NULL", None)]),
    ("params.lr IS NULL", [("param", "lr", "IS NULL", None)]),
    ("params.lr IS NOT NULL", [("param", "lr", "IS NOT NULL", None)]),
    (
        "tags.a IS NULL AND params.b = 'val'",
        [("tag", "a", "IS NULL", None), ("param", "b", "=", "val")],
    ),
    ("params.m = 'LR'", [("param", "m", "=", "LR")]),
    ('params.m = "LR"', [("param", "m", "=", "LR")]),
    ('params.m = "L\'Hosp"', [("param", "m", "=", "L'Hosp")]),
    ("attributes.status = 'FAILED'", [("attribute", "status", "=", "FAILED")]),
    ("metrics.key1 = 123", [("metric", "key1", "=", 123)]),
    ("metrics.key1 != 123", [("metric", "key1", "!=", 123)]),
    ("metrics.key1 >= 123", [("metric", "key1", ">=", 123)]),
    ("params.my_param = 'A'", [("param", "my_param", "=", "A")]),
    ("tags.tag1 = 'D'", [("tag", "tag1", "=", "D")]),
    ("tags.tag1 != 'D'", [("tag", "tag1", "!=", "D")]),
    (
        "params.my_param = 'A' AND attributes.status = 'FAILED'",
        [("param", "my_param", "=", "A"), ("attribute", "status", "=", "FAILED")],
    ),
    ("datasets.name = 'name1'", [("dataset", "name", "=", "name1")]),
    ("datasets.name IN ('name1', 'name2')", [("dataset", "name", "IN", ("name1", "name2"))]),
    (
        "datasets.digest IN ('digest1', 'digest2')",
        [("dataset", "digest", "IN", ("digest1", "digest2"))],
    ),
    (
        "datasets.name = 'name1' AND datasets.digest = 'digest2'",
        [("dataset", "name", "=", "name1"), ("dataset", "digest", "=", "digest2")],
    ),
    ("datasets.context = 'train'", [("dataset", "context", "=", "train")]),
    ("attribute.start_time >= 0", [("attribute", "start_time", ">=", 0)]),
    ("attribute.user_id = 'user-id2'", [("attribute", "user_id", "=", "user-id2")]),
    ("attribute.end_time > 1", [("attribute", "end_time", ">", 1)]),
    ("tags.env IS NOT NULL", [("tag", "env", "IS NOT NULL", None)]),
    ("params.demo = 'true'", [("param", "demo", "=", "true")]),
    ("run_id IN ('a1', 'b2')", [("attribute", "run_id", "IN", ("a1", "b2"))]),
]


def _flatten(node: Node | None) -> list[Comparison]:
    if node is None:
        return []
    if isinstance(node, Comparison):
        return [node]
    assert isinstance(node, And), "MLflow filters are conjunctions"
    return [c for operand in node.operands for c in _flatten(operand)]


@pytest.mark.parametrize(("text", "expected"), MLFLOW_RUN_FILTER_SAMPLES)
def test_mlflow_documented_run_filters_parse_with_the_same_meaning(
    text: str, expected: MlflowExpectation
) -> None:
    got = [(c.entity, c.key, c.op, c.value) for c in _flatten(parse_run_filter(text))]
    assert got == expected
    assert all(c.aggregate == "latest" for c in _flatten(parse_run_filter(text)))


@pytest.mark.parametrize(
    "text",
    [
        "creation_time > 100",
        "name LIKE 'jamie-foo C+W bar'",
        'name LIKE "jamie-foo C+%"',
        "tags.status = 'deprecated'",
        "tags.k ILIKE '%v'",
        "name = 'exp' AND tags.`team` = 'ml'",
        "experiment_id IN ('1', '2')",
    ],
)
def test_mlflow_documented_experiment_filters_parse(text: str) -> None:
    assert parse_experiment_filter(text) is not None


@pytest.mark.parametrize(
    "clauses",
    [
        ["tags.noSuchTag"],
        ["attributes.status"],
        ["attributes.start_time"],
        ["metrics.key1 asc"],
        ['metrics."key1"  desc'],
        ["params.my_param"],
        ["params.my_param aSc", "attributes.status  ASC"],
        ["params.my_param", "attributes.status DESC"],
        ["params.my_param DESC", "attributes.status   DESC"],
        ["params.`my_param` DESC", "attributes.status DESC"],
        ["tags.tag1"],
        ["tags.tag1    DESC"],
        ["metrics.x asc"],
        ["metrics.`Mean Square Error` ASC"],
        ["metrics.acc DESC"],
    ],
)
def test_mlflow_documented_run_order_bys_parse(clauses: list[str]) -> None:
    assert len(parse_run_order_by(clauses)) == len(clauses)


# -------------------------------------------------------------- to_filter_string

CANONICAL_CASES: list[tuple[Node | None, str]] = [
    (None, ""),
    (metric("rmse", "<", 7), "metrics.rmse < 7"),
    (metric("rmse", "<", 0.5, "min"), "metrics.rmse.min < 0.5"),
    (metric("loss.min", "<", 1), "metrics.`loss.min` < 1"),
    (metric("a.min", "<", 1, "max"), "metrics.`a.min`.max < 1"),
    (metric("my metric", ">=", 1e-05), "metrics.`my metric` >= 1e-05"),
    (metric("m", ">", 1e20), "metrics.m > 1e20"),
    (metric("m", ">", math.inf), "metrics.m > 1e999"),
    (metric("m", ">", -math.inf), "metrics.m > -1e999"),
    (metric("2x", "=", 1), "metrics.`2x` = 1"),
    (metric("in", "=", 1), "metrics.`in` = 1"),
    (param("p.min", "=", "x"), "params.p.min = 'x'"),
    (param("a`b", "=", "x"), "params.\"a`b\" = 'x'"),
    (param("p", "=", "it's"), 'params.p = "it\'s"'),
    (param("p", "=", "it''s"), "params.p = 'it''s'"),
    (param("p", "=", 'it\'s "x"'), "params.p = E'it\\'s \"x\"'"),
    # 'a\' would run on into whatever follows, so a trailing backslash needs E'...'
    (param("p", "=", "a\\"), "params.p = E'a\\\\'"),
    (param("p", "=", "a\\'"), "params.p = 'a\\''"),
    (param("p", "IS NULL", None), "params.p IS NULL"),
    (tag("mlflow.user", "IS NOT NULL", None), "tags.mlflow.user IS NOT NULL"),
    (attr("start_time", ">", 5), "start_time > 5"),
    (attr("run_id", "IN", ("a", "it's", "x\\y")), "run_id IN ('a', 'it\\'s', 'x\\\\y')"),
    (dataset("context", "NOT IN", ("a\nb",)), "datasets.context NOT IN ('a\\nb')"),
    (
        and_(or_(metric("a", ">", 1), metric("b", ">", 2)), param("c", "=", "d")),
        "(metrics.a > 1 OR metrics.b > 2) AND params.c = 'd'",
    ),
    (
        or_(and_(metric("a", ">", 1), metric("b", ">", 2)), param("c", "=", "d")),
        "metrics.a > 1 AND metrics.b > 2 OR params.c = 'd'",
    ),
]


@pytest.mark.parametrize(("node", "text"), CANONICAL_CASES)
def test_to_filter_string(node: Node | None, text: str) -> None:
    assert to_filter_string(node) == text
    assert parse_run_filter(text) == node


def test_to_filter_string_of_unnormalised_trees_parses_to_the_normal_form() -> None:
    assert to_filter_string(and_(metric("a", ">", 1))) == "metrics.a > 1"
    node = and_(or_(or_(metric("a", ">", 1), metric("b", ">", 2))), and_(metric("c", ">", 3)))
    text = to_filter_string(node)
    assert text == "(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3"
    assert parse_run_filter(text) == and_(
        or_(metric("a", ">", 1), metric("b", ">", 2)), metric("c", ">", 3)
    )


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (metric("m", ">", math.nan), "NaN cannot be written in a filter"),
        (metric("m", ">", 1, "median"), "aggregate 'median' is not valid for entity 'metric'"),
        (
            Comparison("param", "p", "=", "x", "min"),
            "aggregate 'min' is not valid for entity 'param'",
        ),
        (Comparison("widget", "k", "=", "x"), "unknown entity 'widget'"),
        (Comparison("param", "p", "~", "x"), "unknown operator '~'"),
        (Comparison("param", "p", "=", None), "unsupported value None for operator ="),
        (Comparison("param", "p", "=", True), "unsupported value True for operator ="),
        (
            Comparison("attribute", "run_id", "IN", ()),
            "IN needs a non-empty tuple of strings, got ()",
        ),
        (And(()), "And needs at least one operand"),
        (Or(()), "Or needs at least one operand"),
    ],
)
def test_to_filter_string_rejects_inexpressible_trees(node: Node, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        to_filter_string(node)


def test_to_filter_string_rejects_non_nodes() -> None:
    with pytest.raises(TypeError, match=re.escape("not a filter node: 'metrics.a > 1'")):
        to_filter_string("metrics.a > 1")  # type: ignore[arg-type]


# ------------------------------------------------------------ extensibility


def test_a_new_grammar_is_a_declared_schema() -> None:
    string_ops = frozenset({"=", "!=", "LIKE", "ILIKE"})
    numeric_ops = frozenset({"=", "!=", "<", "<=", ">", ">="})
    model_versions = SearchSchema(
        name="model version",
        entities=(
            EntitySpec(
                "attribute",
                ("attribute", "attributes"),
                attributes=(
                    AttributeSpec("name", STRING, string_ops | {"IN", "NOT IN"}),
                    AttributeSpec("run_id", STRING, string_ops | {"IN", "NOT IN"}),
                    AttributeSpec("version_number", NUMBER, numeric_ops),
                    AttributeSpec("source_path", STRING, string_ops, orderable=False),
                ),
            ),
            EntitySpec("tag", ("tags", "tag"), STRING, string_ops),
        ),
        bare_entity="attribute",
    )
    node = parse_filter(
        "name LIKE 'prod-%' AND version_number > 3 AND tags.stage = 'ok' "
        "AND run_id IN ('r1', 'r2')",
        model_versions,
    )
    assert node == and_(
        attr("name", "LIKE", "prod-%"),
        attr("version_number", ">", 3),
        tag("stage", "=", "ok"),
        attr("run_id", "IN", ("r1", "r2")),
    )
    assert parse_order_by(["version_number DESC"], model_versions) == [
        OrderBy("attribute", "version_number", False)
    ]
    with pytest.raises(SearchSyntaxError, match="for model version search"):
        parse_filter("metrics.a > 1", model_versions)
    with pytest.raises(SearchSyntaxError, match="cannot order model versions by attribute"):
        parse_order_by(["source_path"], model_versions)


def test_schema_validation() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        SearchSchema("x", (EntitySpec("a", ("p",)), EntitySpec("b", ("p",))))
    with pytest.raises(ValueError, match="must be a closed entity"):
        SearchSchema("x", (EntitySpec("a", ("p",)),), bare_entity="a")


# ------------------------------------------------------------- properties


def _normalise(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return kind(tuple(flat))


_NUMBERS = st.one_of(
    # Integers round-trip within 64 bits; beyond, they parse as floats (tested above).
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_ODD_KEYS = st.sampled_from(
    ["a", "val.loss", "loss.min", "x.count", "a b", "in", "2x", "`", "'", '"', "\\", "E'", ""]
)
_KEYS = st.one_of(_ODD_KEYS, st.text(max_size=8))
_STRINGS = st.one_of(st.sampled_from(["", "'", '"', "\\", "''", "\\'", "E'x'"]), st.text())


def _values(value_type: str, op: str) -> st.SearchStrategy[Value]:
    if op in ("IS NULL", "IS NOT NULL"):
        return st.none()
    if op in ("IN", "NOT IN"):
        return st.lists(_STRINGS, min_size=1, max_size=3).map(tuple)
    return _NUMBERS if value_type == NUMBER else _STRINGS


def _entity_comparisons(entity: EntitySpec) -> st.SearchStrategy[Comparison]:
    if entity.attributes is not None:
        return st.sampled_from(entity.attributes).flatmap(
            lambda a: st.sampled_from(sorted(a.operators)).flatmap(
                lambda op: _values(a.value_type, op).map(
                    lambda v: Comparison(entity.name, a.name, op, v)
                )
            )
        )
    aggregates = (
        st.sampled_from(("latest", *AGGREGATES)) if entity.aggregates else st.just("latest")
    )
    return st.builds(
        lambda key, op_value, aggregate: Comparison(
            entity.name, key, op_value[0], op_value[1], aggregate
        ),
        _KEYS,
        st.sampled_from(sorted(entity.operators)).flatmap(
            lambda op: _values(entity.value_type, op).map(lambda v: (op, v))
        ),
        aggregates,
    )


def _trees(schema: SearchSchema) -> st.SearchStrategy[Node]:
    leaves = st.one_of(*(_entity_comparisons(e) for e in schema.entities))
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, min_size=2, max_size=4).map(lambda ops: _normalise(And, ops)),
            st.lists(children, min_size=2, max_size=4).map(lambda ops: _normalise(Or, ops)),
        ),
        max_leaves=8,
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(RUN_SCHEMA))
@example(param("p", "=", "a'b\"c"))
@example(metric("`x'\"", "<", 1.0, "min"))
@example(attr("run_id", "IN", ("a\\", "'", '"', "\n\x00\x85")))
def test_run_filter_round_trip(node: Node) -> None:
    text = to_filter_string(node)
    assert parse_run_filter(text) == node
    assert to_filter_string(parse_run_filter(text)) == text


@settings(max_examples=200)
@given(_trees(EXPERIMENT_SCHEMA))
def test_experiment_filter_round_trip(node: Node) -> None:
    assert parse_experiment_filter(to_filter_string(node)) == node


_FRAGMENTS = st.sampled_from(
    [
        "metrics", "params", "tags", "attributes", "datasets", "run_id", "status", "created",
        "`run name`", ".", "a", "min", "`", "'", '"', "(", ")", ",", "AND", "OR", "NOT", "IN",
        "IS", "NULL", "LIKE", "=", "<", ">", "!", "1", "-", ".5", "e5", "E'", "\\", " ", "\n",
        "x'", "\\N{", "\\U0011ffff", "\\x4", "1" * 30,
    ]
)  # fmt: skip
_SOUP = st.lists(_FRAGMENTS, max_size=25).map("".join)


def _check_never_crashes(parse: Callable[[str], object], text: str) -> object:
    error: SearchSyntaxError | None = None
    try:
        return parse(text)
    except SearchSyntaxError as raised:
        error = raised
    assert error is not None
    assert error.position is None or 0 <= error.position <= len(text)
    assert len(error.message.splitlines()) == 1
    return None


@settings(max_examples=500)
@given(st.one_of(st.text(), _SOUP))
def test_arbitrary_filter_text_only_raises_search_syntax_error(text: str) -> None:
    for parse in (parse_run_filter, parse_experiment_filter):
        node = _check_never_crashes(parse, text)
        if node is not None:
            assert isinstance(node, Comparison | And | Or)
            assert parse(to_filter_string(node)) == node


@settings(max_examples=300)
@given(st.one_of(st.text(), _SOUP))
def test_arbitrary_order_by_text_only_raises_search_syntax_error(text: str) -> None:
    _check_never_crashes(lambda t: parse_run_order_by([t]), text)
    _check_never_crashes(lambda t: parse_experiment_order_by([t]), text)


# ---------------------------------------------------------------- limits


def test_a_filter_is_limited_in_length_and_comparisons() -> None:
    from labtrack.config import settings

    settings.set("search_max_filter_terms", 3)
    three = "metrics.a > 1 AND (params.b = 'x' OR tags.c IS NULL)"
    assert isinstance(parse_run_filter(three), And)
    with pytest.raises(InvalidParameterValue) as info:
        parse_run_filter(three + " AND metrics.a > 1")  # a repeat counts as well
    assert info.value.message == (
        "Invalid filter: it has 4 comparisons, more than the limit of 3 "
        "(setting search_max_filter_terms)"
    )
    settings.set("search_max_filter_length", len(three))
    assert parse_experiment_filter("name = 'x'") is not None
    with pytest.raises(InvalidParameterValue) as info:
        parse_experiment_filter(three + " ")
    assert info.value.message == (
        f"Invalid filter: it is {len(three) + 1} characters long, more than the limit of "
        f"{len(three)} (setting search_max_filter_length)"
    )


def test_the_default_limits_allow_long_filters() -> None:
    text = " AND ".join(f"metrics.`m {i}` >= {i}" for i in range(200))
    node = parse_run_filter(text)
    assert isinstance(node, And)
    assert len(node.operands) == 200
    with pytest.raises(InvalidParameterValue, match="more than the limit of 200"):
        parse_run_filter(text + " AND metrics.x > 0")


def test_order_by_takes_at_most_ten_clauses() -> None:
    clauses = [f"metrics.m{i} DESC" for i in range(10)]
    assert len(parse_run_order_by(clauses)) == 10
    with pytest.raises(InvalidParameterValue) as info:
        parse_order_by([*clauses, "params.p"], RUN_SCHEMA)
    assert info.value.message == "Invalid order_by: 11 clauses, more than the limit of 10"


# ---------------------------------------------------------- speed and weight


@pytest.mark.parametrize(
    "text",
    [
        "'" + "\\'" * 20000,
        "params.a = '" + "''" * 20000,
        "(" * 20000,
        "a" * 200000,
        "metrics.a > 1 " * 5000,
        "run_id IN (" + "'a', " * 20000,
    ],
)
def test_pathological_input_is_handled_quickly(text: str) -> None:
    """No quadratic blow-up: a generous bound (these take ~1 ms), robust to a loaded machine."""
    from labtrack.config import settings

    # The parser itself, past the limits that keep such filters away from it by default.
    settings.set("search_max_filter_length", 10**6)
    settings.set("search_max_filter_terms", 10**6)
    started = timeit.default_timer()
    _check_never_crashes(parse_run_filter, text)
    assert timeit.default_timer() - started < 10.0


def test_import_pulls_in_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import labtrack.search; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['labtrack']"
