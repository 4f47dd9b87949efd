"""The search filter and order_by grammar: text in, a small immutable AST out.

labtrack accepts every filter string MLflow accepts, with the same meaning, and
adds a few things MLflow lacks::

    metrics.rmse < 0.5 AND (params.model = 'rf' OR tags.`team name` LIKE 'ml-%')
    metrics.loss.min < 0.1            -- aggregate of a metric: min, max or count

Grammar of a filter (keywords are case-insensitive; AND binds tighter than OR)::

    filter      := AND* [or_expr] AND*
    or_expr     := and_expr (OR and_expr)*
    and_expr    := primary ((AND+ | <nothing>) primary)*
    primary     := '(' or_expr ')' | comparison
    comparison  := identifier operator [value]
    identifier  := prefix '.' key | attribute
    key         := quoted ['.' aggregate] | word ('.' word)*
    operator    := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL

MLflow compatibility details this module reproduces on purpose:

* An identifier without a prefix is an attribute (``status = 'FINISHED'``,
  ``"run name" = 'x'``); entity prefixes and attribute names are case-sensitive.
* ``AND`` may lead, trail or repeat, and two comparisons side by side mean AND
  (``metrics.a > 1 metrics.b > 2``): MLflow's parser lets all of these through.
* Quoted strings and quoted keys are taken literally between their quotes, with
  no unescaping (``'it''s'`` is the five characters ``it''s``, as in MLflow).
  A value that cannot be written that way uses labtrack's escaped form
  ``E'...'`` (backslash escapes), which MLflow rejects, so no meaning clashes.
* The items of an ``IN (...)`` list are read like Python string literals
  (backslash escapes, adjacent literals concatenated, trailing comma allowed),
  because MLflow evaluates that list with ``ast.literal_eval``.
* An unquoted metric key whose last dotted part is ``min``, ``max`` or
  ``count`` selects that aggregate (labtrack extension): MLflow would read
  ``metrics.loss.min`` as the key ``loss.min``; quote such a key to mean it.

MLflow quirks deliberately *not* reproduced (each is a bug there):

* ``params.a = 'x' tags.b IS NULL``: MLflow's tokenizer reads one test of a
  param named ``a = 'x' tags.b``; here it is two comparisons.
* ``params.created = 'x'``: MLflow's SQL store renames ``created`` / ``run name``
  to ``start_time`` / ``run_name`` for every entity; here only for attributes.
* A list after ``=`` or ``LIKE``, nested parentheses inside an IN list, blanks
  after the entity dot (``metrics. a``) and dotted parts after a quoted key
  (``metrics.`a`.b``) are rejected instead of being given odd meanings.
* order_by keys are quoted exactly as in filters (MLflow passes them through
  ``shlex``, which also unescapes ``\\"`` and ``\\\\``; valid key names never
  contain either character).

The parser is driven by a :class:`SearchSchema`, a declarative table of entity
prefixes, attributes, operators and value types; :data:`RUN_SCHEMA` and
:data:`EXPERIMENT_SCHEMA` describe run and experiment search, and another
grammar (e.g. the model registry) is added by declaring another schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from labtrack.config import settings
from labtrack.errors import InvalidParameterValue
from labtrack.validation import fits_int64

__all__ = [
    "AGGREGATES",
    "EXPERIMENT_SCHEMA",
    "MAX_ORDER_BY",
    "MODEL_VERSION_SCHEMA",
    "NUMBER",
    "REGISTERED_MODEL_SCHEMA",
    "RUN_SCHEMA",
    "STRING",
    "And",
    "AttributeSpec",
    "Comparison",
    "EntitySpec",
    "Node",
    "Or",
    "OrderBy",
    "SearchSchema",
    "SearchSyntaxError",
    "check_filter_terms",
    "check_order_by_count",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_filter",
    "parse_order_by",
    "parse_run_filter",
    "parse_run_order_by",
    "to_filter_string",
]


class SearchSyntaxError(InvalidParameterValue):
    """A filter or order_by clause that does not parse.

    ``position`` is the 0-based character offset in the text where the problem
    is, or None when it is not tied to one place.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Comparison:
    """One ``<identifier> <op> <value>`` test.

    ``entity`` is "metric", "param", "tag", "attribute" or "dataset"; ``key`` is
    the key as logged (or the canonical attribute / dataset field name); ``op``
    is upper-case; ``value`` is a number, a string, a tuple of strings (IN lists)
    or None (IS [NOT] NULL); ``aggregate`` is "latest", "min", "max" or "count"
    and only differs from "latest" for metrics.
    """

    entity: str
    key: str
    op: str
    value: float | int | str | tuple[str, ...] | None
    aggregate: str = "latest"


@dataclass(frozen=True)
class And:
    """All operands hold. Parsed trees never nest an And directly in an And."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one operand holds. Parsed trees never nest an Or directly in an Or."""

    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | And | Or


@dataclass(frozen=True)
class OrderBy:
    """One order_by clause, e.g. ``metrics.rmse.min DESC``."""

    entity: str
    key: str
    ascending: bool = True
    aggregate: str = "latest"


# ------------------------------------------------------------------------ schema

STRING = "string"
NUMBER = "number"
AGGREGATES = ("min", "max", "count")
LATEST = "latest"

_OP_ORDER = (
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "LIKE",
    "ILIKE",
    "IN",
    "NOT IN",
    "IS NULL",
    "IS NOT NULL",
)
_ALL_OPS = frozenset(_OP_ORDER)
_SYMBOLIC_OPS = frozenset(_OP_ORDER[:6])
_NUMERIC_OPS = _SYMBOLIC_OPS
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
_LIST_OPS = frozenset({"IN", "NOT IN"})
_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_WORD_OPS = frozenset({"LIKE", "ILIKE", "IN", "NOT", "IS"})
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"})


@dataclass(frozen=True)
class AttributeSpec:
    """A named field of a closed entity (a run attribute, a dataset field...).

    ``value_type`` is :data:`STRING` or :data:`NUMBER`; ``operators`` is the set
    of allowed operators (IN / NOT IN take a list of strings); ``aliases`` are
    other spellings that mean the same field.
    """

    name: str
    value_type: str
    operators: frozenset[str]
    aliases: tuple[str, ...] = ()
    orderable: bool = True


@dataclass(frozen=True)
class EntitySpec:
    """One kind of thing a filter can test, e.g. metrics or run attributes.

    ``prefixes`` are the accepted spellings before the dot, the first being the
    canonical one. Entities with free-form keys (metrics, params, tags) use
    ``value_type`` and ``operators``; entities with a fixed set of fields list
    them in ``attributes`` instead. ``aggregates`` enables the ``.min`` /
    ``.max`` / ``.count`` key suffix.
    """

    name: str
    prefixes: tuple[str, ...]
    value_type: str = STRING
    operators: frozenset[str] = frozenset()
    attributes: tuple[AttributeSpec, ...] | None = None
    aggregates: bool = False
    orderable: bool = True
    by_alias: Mapping[str, AttributeSpec] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        lookup: dict[str, AttributeSpec] = {}
        for attr in self.attributes or ():
            for alias in (attr.name, *attr.aliases):
                lookup[alias] = attr
        object.__setattr__(self, "by_alias", lookup)

    def describe(self) -> str:
        """How messages name this entity: "metric", "attribute", "dataset field"..."""
        if self.attributes is None or self.name == "attribute":
            return self.name
        return f"{self.name} field"


@dataclass(frozen=True)
class SearchSchema:
    """What one search grammar accepts: its entities and the entity of bare names."""

    name: str
    entities: tuple[EntitySpec, ...]
    bare_entity: str | None = None
    by_prefix: Mapping[str, EntitySpec] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    bare: EntitySpec | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        lookup: dict[str, EntitySpec] = {}
        for entity in self.entities:
            for prefix in entity.prefixes:
                if prefix in lookup:
                    raise ValueError(f"prefix {prefix!r} declared twice in schema {self.name!r}")
                lookup[prefix] = entity
        object.__setattr__(self, "by_prefix", lookup)
        if self.bare_entity is not None:
            bare = next((e for e in self.entities if e.name == self.bare_entity), None)
            if bare is None or bare.attributes is None:
                raise ValueError(f"bare entity {self.bare_entity!r} must be a closed entity")
            object.__setattr__(self, "bare", bare)


RUN_SCHEMA = SearchSchema(
    name="run",
    entities=(
        EntitySpec("metric", ("metrics", "metric"), NUMBER, _NUMERIC_OPS, aggregates=True),
        EntitySpec(
            "param", ("params", "param", "parameters", "parameter"), STRING, _STRING_OPS | _NULL_OPS
        ),
        EntitySpec("tag", ("tags", "tag"), STRING, _STRING_OPS | _NULL_OPS),
        EntitySpec(
            "attribute",
            ("attributes", "attribute", "attr", "run"),
            attributes=(
                AttributeSpec("run_id", STRING, _STRING_OPS | _LIST_OPS),
                AttributeSpec(
                    "run_name", STRING, _STRING_OPS, aliases=("run name", "Run name", "Run Name")
                ),
                AttributeSpec("user_id", STRING, _STRING_OPS),
                AttributeSpec("status", STRING, _STRING_OPS),
                AttributeSpec("artifact_uri", STRING, _STRING_OPS),
                AttributeSpec("start_time", NUMBER, _NUMERIC_OPS, aliases=("created", "Created")),
                AttributeSpec("end_time", NUMBER, _NUMERIC_OPS),
            ),
        ),
        EntitySpec(
            "dataset",
            ("datasets", "dataset"),
            attributes=tuple(
                AttributeSpec(name, STRING, _STRING_OPS | _LIST_OPS)
                for name in ("name", "digest", "context")
            ),
            orderable=False,
        ),
    ),
    bare_entity="attribute",
)
"""Run search: ``search_runs(filter_string=..., order_by=...)``."""

EXPERIMENT_SCHEMA = SearchSchema(
    name="experiment",
    entities=(
        EntitySpec(
            "attribute",
            ("attribute", "attributes", "attr"),
            attributes=(
                AttributeSpec("name", STRING, _STRING_OPS),
                AttributeSpec("experiment_id", STRING, frozenset({"=", "!="}) | _LIST_OPS),
                AttributeSpec("creation_time", NUMBER, _NUMERIC_OPS),
                AttributeSpec("last_update_time", NUMBER, _NUMERIC_OPS),
            ),
        ),
        EntitySpec("tag", ("tags", "tag"), STRING, _STRING_OPS | _NULL_OPS, orderable=False),
    ),
    bare_entity="attribute",
)
"""Experiment search: ``search_experiments(filter_string=..., order_by=...)``."""

# The model registry (MLflow's SearchModelUtils / SearchModelVersionUtils, plus OR,
# parentheses, IS [NOT] NULL on tags, and the attributes marked as labtrack's own below).
_REGISTRY_TAGS = EntitySpec(
    "tag", ("tags", "tag"), STRING, _STRING_OPS | _NULL_OPS, orderable=False
)
_REGISTRY_ATTRIBUTE_PREFIXES = ("attribute", "attributes", "attr")

REGISTERED_MODEL_SCHEMA = SearchSchema(
    name="registered model",
    entities=(
        EntitySpec(
            "attribute",
            _REGISTRY_ATTRIBUTE_PREFIXES,
            attributes=(
                AttributeSpec("name", STRING, _STRING_OPS | _LIST_OPS),
                # labtrack: MLflow only orders by these; here they can be tested too.
                AttributeSpec("creation_timestamp", NUMBER, _NUMERIC_OPS),
                AttributeSpec(
                    "last_updated_timestamp", NUMBER, _NUMERIC_OPS, aliases=("timestamp",)
                ),
            ),
        ),
        _REGISTRY_TAGS,
    ),
    bare_entity="attribute",
)
"""Registered model search: ``search_registered_models(filter_string=..., order_by=...)``."""

MODEL_VERSION_SCHEMA = SearchSchema(
    name="model version",
    entities=(
        EntitySpec(
            "attribute",
            _REGISTRY_ATTRIBUTE_PREFIXES,
            attributes=(
                AttributeSpec("name", STRING, _STRING_OPS | _LIST_OPS),
                AttributeSpec("version_number", NUMBER, _NUMERIC_OPS),
                AttributeSpec("run_id", STRING, _STRING_OPS | _LIST_OPS),
                AttributeSpec("source_path", STRING, _STRING_OPS, orderable=False),
                # labtrack: not searchable in MLflow.
                AttributeSpec("current_stage", STRING, _STRING_OPS | _LIST_OPS),
                AttributeSpec("model_id", STRING, _STRING_OPS | _LIST_OPS, orderable=False),
                AttributeSpec("creation_timestamp", NUMBER, _NUMERIC_OPS),
                AttributeSpec("last_updated_timestamp", NUMBER, _NUMERIC_OPS),
            ),
        ),
        _REGISTRY_TAGS,
    ),
    bare_entity="attribute",
)
"""Model version search: ``search_model_versions(filter_string=..., order_by=...)``."""

_SCHEMAS = (RUN_SCHEMA, EXPERIMENT_SCHEMA, REGISTERED_MODEL_SCHEMA, MODEL_VERSION_SCHEMA)


# ---------------------------------------------------------------------- scanning

_WS = re.compile(r"\s*")
_WORD = re.compile(r"\w+")
_NAME = re.compile(r"[^\W\d]\w*")  # a prefix or bare attribute: no leading digit
_DOTTED_KEY = re.compile(r"\w+(?:\.\w+)*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_SYMBOLIC_OP = re.compile(r"[<>=!]+")
# SQL-style quoted tokens, taken literally between the quotes (MLflow/sqlparse rules).
_QUOTED = {
    "'": re.compile(r"'(?:''|\\'|[^'])*'"),
    '"': re.compile(r'"(?:""|\\"|[^"])*"'),
    "`": re.compile(r"`(?:``|[^`])*`"),
}
_ESCAPED_STRING = re.compile(r"[eE]'((?:[^'\\]|\\.)*)'", re.DOTALL)
_PY_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_ESCAPE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|N\{([^}]*)\}|([0-7]{1,3})|(.))",
    re.DOTALL,
)
_SIMPLE_ESCAPES = {
    "\n": "",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_TOKEN_FOR_MESSAGE = re.compile(r"[\w.]+|[<>=!]+|\S")
_MAX_DEPTH = 100
_MESSAGE_TEXT_LIMIT = 180
_CONTROL_CHARS = {i: f"\\x{i:02x}" for i in (*range(32), 127)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def _unescape_one(match: re.Match[str]) -> str:
    hex2, hex4, hex8, name, octal, other = match.groups()
    digits = hex2 or hex4 or hex8
    if digits is not None:
        return chr(int(digits, 16))
    if name is not None:
        import unicodedata

        return unicodedata.lookup(name)
    if octal is not None:
        return chr(int(octal, 8))
    return _SIMPLE_ESCAPES.get(other, "\\" + other)


def _unescape(body: str) -> str:
    """Decode Python-style backslash escapes; raises ValueError/KeyError on bad ones."""
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape_one, body)


def _display(text: str) -> str:
    """``text`` made safe for a one-line message: shortened, line breaks escaped."""
    if len(text) > _MESSAGE_TEXT_LIMIT:
        text = text[:_MESSAGE_TEXT_LIMIT] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# MLflow's opening words for a filter or order_by clause that does not parse.
_UNPARSED = {
    "filter": "Invalid clause(s) in filter string",
    "order_by clause": "Invalid order_by clause",
}


def _op_list(ops: frozenset[str]) -> str:
    return ", ".join(op for op in _OP_ORDER if op in ops)


@dataclass(frozen=True, slots=True)
class _Target:
    """The left-hand side of a comparison or an order_by clause, resolved."""

    entity: EntitySpec
    key: str
    aggregate: str
    attribute: AttributeSpec | None
    position: int

    @property
    def operators(self) -> frozenset[str]:
        return self.attribute.operators if self.attribute else self.entity.operators

    @property
    def value_type(self) -> str:
        return self.attribute.value_type if self.attribute else self.entity.value_type

    @property
    def orderable(self) -> bool:
        return self.entity.orderable and (self.attribute is None or self.attribute.orderable)

    def describe(self) -> str:
        key = self.key if self.aggregate == LATEST else f"{self.key}.{self.aggregate}"
        return f"{self.entity.describe()} '{key}'"


class _Parser:
    """Recursive-descent parser over one string, scanning tokens on demand.

    Tokens are context dependent (``1x`` is a key after ``params.`` but a bad
    number after ``>``), so the scanner methods below read the token class the
    grammar expects at the current position instead of pre-tokenising.
    """

    __slots__ = ("depth", "n", "pos", "schema", "text", "what")

    def __init__(self, text: str, schema: SearchSchema, what: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0
        self.schema = schema
        self.what = what
        self.depth = 0

    # -- scanning helpers --------------------------------------------------

    def error(self, position: int, detail: str, opening: str | None = None) -> SearchSyntaxError:
        """The error at ``position``. A message starts with MLflow's words for the kind of
        error (``opening``, e.g. "Invalid entity type 'foo'"; by default its words for text
        that does not parse), then says where and what labtrack expected there."""
        text = f"'{_display(self.text)}'"
        if opening is None:
            where = f"{_UNPARSED[self.what]} {text} at position {position}"
        else:
            where = f"{opening} in {self.what} {text} at position {position}"
        return SearchSyntaxError(f"{where}: {detail}", position)

    def found(self, position: int) -> str:
        """How the text at ``position`` reads in an error message."""
        if position >= self.n:
            return "end of input"
        char = self.text[position]
        pattern = _QUOTED.get(char)
        match = (pattern or _TOKEN_FOR_MESSAGE).match(self.text, position)
        token = match.group() if match else self.text[position:]
        if len(token) > 30:
            token = token[:27] + "..."
        return repr(token)

    def skip_ws(self) -> int:
        match = _WS.match(self.text, self.pos)
        assert match is not None  # \s* always matches
        self.pos = match.end()
        return self.pos

    def at_end(self) -> bool:
        return self.skip_ws() >= self.n

    def peek_word(self) -> str:
        """The upper-cased word at the current position (after blanks), or ''."""
        match = _WORD.match(self.text, self.skip_ws())
        return match.group().upper() if match else ""

    def keyword(self, word: str) -> bool:
        """Consume keyword ``word`` (case-insensitive) if it is next."""
        match = _WORD.match(self.text, self.skip_ws())
        if match is not None and match.group().upper() == word:
            self.pos = match.end()
            return True
        return False

    def quoted(self, position: int) -> str:
        """Read a literal quoted token at ``position`` and return what is between the quotes."""
        match = _QUOTED[self.text[position]].match(self.text, position)
        if match is None:
            raise self.error(
                position, f"unterminated quoted text starting with {self.found(position)}"
            )
        self.pos = match.end()
        return match.group()[1:-1]

    def is_escaped_string(self, position: int) -> bool:
        return self.text.startswith(("E'", "e'"), position)

    def escaped_string(self, position: int) -> str:
        match = _ESCAPED_STRING.match(self.text, position)
        if match is None:
            raise self.error(position, "unterminated E'...' string")
        self.pos = match.end()
        return self.decode(match.group(1), position)

    def decode(self, body: str, position: int) -> str:
        try:
            return _unescape(body)
        except (ValueError, KeyError, OverflowError):
            raise self.error(position, "invalid escape sequence in string") from None

    # -- filters -----------------------------------------------------------

    def parse_filter(self) -> Node | None:
        self.skip_ands()
        if self.at_end():
            return None
        node = self.or_expr()
        position = self.skip_ws()
        if position < self.n:
            if self.text[position] == ")":
                raise self.error(position, "unbalanced parenthesis: ')' without a matching '('")
            raise self.error(
                position, f"expected AND, OR or end of input, got {self.found(position)}"
            )
        return node

    def skip_ands(self) -> None:
        while self.keyword("AND"):
            pass

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.keyword("OR"):
            operands.append(self.and_expr())
        return _combine(Or, operands)

    def and_expr(self) -> Node:
        operands = [self.primary()]
        while True:
            if self.keyword("AND"):
                self.skip_ands()
                if self.depth == 0 and self.at_end():
                    break  # a trailing AND, which MLflow tolerates
                operands.append(self.primary())
            elif self.juxtaposed_comparison():
                operands.append(self.comparison())
            else:
                break
        return _combine(And, operands)

    def juxtaposed_comparison(self) -> bool:
        """True when another comparison follows without AND (MLflow reads it as AND).

        Raises when something that is neither a comparison, a connective nor a
        closing parenthesis follows, since nothing else could be valid there.
        """
        start = self.skip_ws()
        if start >= self.n:
            return False
        char = self.text[start]
        if not (char in '`"' or char.isalpha() or char == "_"):
            if char == ")" or char == "(":
                return False
            raise self.error(start, self.expected_connective(start))
        if self.peek_word() in ("AND", "OR"):
            return False
        try:
            self.identifier()
            follows = self.peek_operator()
        except SearchSyntaxError:
            follows = False
        self.pos = start
        if not follows:
            raise self.error(start, self.expected_connective(start))
        return True

    def expected_connective(self, position: int) -> str:
        closing = ", ')'" if self.depth else ""
        return f"expected AND, OR{closing} or end of input, got {self.found(position)}"

    def peek_operator(self) -> bool:
        position = self.skip_ws()
        if position < self.n and self.text[position] in "<>=!":
            return True
        return self.peek_word() in _WORD_OPS

    def primary(self) -> Node:
        start = self.skip_ws()
        if start < self.n and self.text[start] == "(":
            if self.depth >= _MAX_DEPTH:
                raise self.error(start, f"parentheses nested deeper than {_MAX_DEPTH} levels")
            self.depth += 1
            self.pos = start + 1
            node = self.or_expr()
            end = self.skip_ws()
            if end >= self.n or self.text[end] != ")":
                raise self.error(
                    end,
                    f"expected ')' to close the '(' at position {start}, got {self.found(end)}",
                )
            self.pos = end + 1
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        target = self.identifier()
        op, op_position = self.operator()
        if op not in target.operators:
            raise self.error(
                op_position,
                f"operator {op} is not allowed for {target.describe()}: "
                f"expected one of {_op_list(target.operators)}",
                f"Invalid comparator '{op}'",
            )
        value = self.value(target, op)
        return Comparison(target.entity.name, target.key, op, value, target.aggregate)

    # -- identifiers ---------------------------------------------------------

    def identifier(self) -> _Target:
        start = self.skip_ws()
        text = self.text
        char = text[start] if start < self.n else ""
        if char == "`" or char == '"':
            name = self.quoted(start)
            if self.pos < self.n and text[self.pos] == ".":
                return self.prefixed(name, start, self.pos + 1)
            return self.bare(name, start, quoted=True)
        match = _NAME.match(text, start)
        if match is None:
            raise self.error(
                start, f"expected {self.expected_identifier()}, got {self.found(start)}"
            )
        end = match.end()
        if end < self.n and text[end] == ".":
            return self.prefixed(match.group(), start, end + 1)
        self.pos = end
        return self.bare(match.group(), start, quoted=False)

    def expected_identifier(self) -> str:
        prefixes = " or ".join(f"{e.prefixes[0]}.<key>" for e in self.schema.entities[:2])
        if self.schema.bare is not None:
            return f"an identifier such as {prefixes} or an attribute name"
        return f"an identifier such as {prefixes}"

    def entity_list(self) -> str:
        return ", ".join(f"{e.prefixes[0]}." for e in self.schema.entities)

    def bare(self, name: str, start: int, quoted: bool) -> _Target:
        entity = self.schema.bare
        if not quoted:
            if name.upper() in _KEYWORDS:
                raise self.error(
                    start, f"expected {self.expected_identifier()}, got keyword {name!r}"
                )
            if name in self.schema.by_prefix and (entity is None or name not in entity.by_alias):
                raise self.error(self.pos, f"expected '.' and a key after {name!r}")
        if entity is None:
            raise self.error(
                start, f"expected an entity prefix ({self.entity_list()}) before {name!r}"
            )
        if not quoted:
            self.check_key_end()
        return self.attribute_target(entity, name, start)

    def attribute_target(self, entity: EntitySpec, name: str, start: int) -> _Target:
        attribute = entity.by_alias.get(name)
        if attribute is None:
            valid = ", ".join(a.name for a in entity.attributes or ())
            raise self.error(
                start,
                f"unknown {entity.describe()} {name!r} for {self.schema.name} search: "
                f"expected one of {valid}",
                f"Invalid {entity.name} key {name!r} specified",
            )
        return _Target(entity, attribute.name, LATEST, attribute, start)

    def prefixed(self, prefix: str, start: int, key_start: int) -> _Target:
        entity = self.schema.by_prefix.get(prefix)
        if entity is None:
            raise self.error(
                start,
                f"unknown entity {prefix!r} for {self.schema.name} search: "
                f"expected one of {self.entity_list()}",
                f"Invalid entity type {prefix!r}",
            )
        self.pos = key_start
        key, quoted = self.key(prefix)
        aggregate = LATEST
        if entity.aggregates:
            key, aggregate = self.aggregate_suffix(key, quoted)
        if not quoted:
            self.check_key_end()
        if entity.attributes is not None:
            return self.attribute_target(entity, key, key_start)
        return _Target(entity, key, aggregate, None, key_start)

    def key(self, prefix: str) -> tuple[str, bool]:
        """Read the key after ``prefix.``; returns (key, was_quoted)."""
        position = self.pos
        char = self.text[position] if position < self.n else ""
        if char in _QUOTED:
            return self.quoted(position), True
        if self.is_escaped_string(position):
            return self.escaped_string(position), True
        match = _DOTTED_KEY.match(self.text, position)
        if match is None:
            raise self.error(
                position, f"expected a key after '{prefix}.', got {self.found(position)}"
            )
        self.pos = match.end()
        return match.group(), False

    def aggregate_suffix(self, key: str, quoted: bool) -> tuple[str, str]:
        if not quoted:
            head, dot, last = key.rpartition(".")
            if dot and last in AGGREGATES:
                return head, last
            return key, LATEST
        if self.pos < self.n and self.text[self.pos] == ".":
            match = _WORD.match(self.text, self.pos + 1)
            if match is None or match.group() not in AGGREGATES:
                raise self.error(
                    self.pos + 1,
                    f"expected an aggregate (min, max or count) after the quoted key, "
                    f"got {self.found(self.pos + 1)}",
                )
            self.pos = match.end()
            return key, match.group()
        return key, LATEST

    def check_key_end(self) -> None:
        position = self.pos
        if position < self.n:
            char = self.text[position]
            if not (char.isspace() or char in "<>=!(),"):
                raise self.error(
                    position,
                    f"unexpected {char!r} after key: put keys containing special characters "
                    f"in backticks, e.g. metrics.`my-key`",
                )

    # -- operators and values ------------------------------------------------

    def operator(self) -> tuple[str, int]:
        start = self.skip_ws()
        match = _SYMBOLIC_OP.match(self.text, start)
        if match is not None:
            op = match.group()
            if op not in _SYMBOLIC_OPS:
                raise self.error(
                    start,
                    f"expected a comparison operator, got {op!r}",
                    f"Invalid comparator {op!r}",
                )
            self.pos = match.end()
            return op, start
        word = self.peek_word()
        if word in ("LIKE", "ILIKE", "IN"):
            self.keyword(word)
            return word, start
        if word == "NOT":
            self.keyword(word)
            if self.keyword("IN"):
                return "NOT IN", start
            raise self.error(self.pos, f"expected IN after NOT, got {self.found(self.pos)}")
        if word == "IS":
            self.keyword(word)
            if self.keyword("NULL"):
                return "IS NULL", start
            if self.keyword("NOT") and self.keyword("NULL"):
                return "IS NOT NULL", start
            position = self.skip_ws()
            raise self.error(
                position, f"expected NULL or NOT NULL after IS, got {self.found(position)}"
            )
        raise self.error(start, f"expected a comparison operator, got {self.found(start)}")

    def value(self, target: _Target, op: str) -> float | int | str | tuple[str, ...] | None:
        if op in _NULL_OPS:
            return None
        self.skip_ws()
        if op in _LIST_OPS:
            return self.string_list(op)
        if target.value_type == NUMBER:
            return self.number(target)
        return self.string(target)

    def number(self, target: _Target) -> float | int:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        if match is None:
            found = self.found(start)
            hint = ""
            if start < self.n and self.text[start] in _QUOTED:
                hint = " (numbers are written without quotes)"
            elif found.strip("'").lower() in ("nan", "inf", "-inf", "infinity"):
                hint = " (NaN and infinity are not supported)"
            detail = f"expected a number for {target.describe()}, got {found}{hint}"
            if start >= self.n:  # nothing there: a clause cut short
                raise self.error(start, detail)
            raise self.error(start, detail, "Expected numeric value type")
        literal = match.group()
        self.pos = match.end()
        if "." in literal or "e" in literal or "E" in literal:
            return float(literal)
        try:
            number = int(literal)
        except ValueError:  # more digits than int() accepts
            raise self.error(start, "number has too many digits") from None
        if fits_int64(number):
            return number
        try:  # beyond the database's integers: compare as a float, as a metric would be
            return float(number)
        except OverflowError:
            raise self.error(start, "number is too large") from None

    def string(self, target: _Target) -> str:
        start = self.pos
        char = self.text[start] if start < self.n else ""
        if char == "'" or char == '"':
            return self.quoted(start)
        if self.is_escaped_string(start):
            return self.escaped_string(start)
        found = self.found(start)
        if char == "(":
            hint = " (a list of values needs IN or NOT IN)"
        elif _NUMBER.match(self.text, start):
            hint = f" (quote it: '{found.strip(chr(39))}')"
        else:
            hint = ""
        detail = f"expected a quoted string for {target.describe()}, got {found}{hint}"
        if start >= self.n:  # nothing there: a clause cut short
            raise self.error(start, detail)
        raise self.error(start, detail, "Expected a quoted string value")

    def string_list(self, op: str) -> tuple[str, ...]:
        start = self.pos
        if start >= self.n or self.text[start] != "(":
            raise self.error(
                start,
                f"expected a parenthesised list of quoted strings after {op}, "
                f"e.g. ('a', 'b'), got {self.found(start)}",
            )
        self.pos = start + 1
        items: list[str] = []
        while True:
            position = self.skip_ws()
            if position < self.n and self.text[position] == ")" and items:
                self.pos = position + 1
                return tuple(items)
            if position < self.n and self.text[position] == ")":
                raise self.error(position, f"empty list after {op}: expected at least one string")
            items.append(self.list_item())
            position = self.skip_ws()
            char = self.text[position] if position < self.n else ""
            if char == ",":
                self.pos = position + 1
            elif char == ")":
                self.pos = position + 1
                return tuple(items)
            else:
                raise self.error(
                    position, f"expected ',' or ')' in the list, got {self.found(position)}"
                )

    def list_item(self) -> str:
        """One list item: Python-style string literals, adjacent ones concatenated."""
        parts: list[str] = []
        while True:
            position = self.skip_ws()
            match = _PY_STRING.match(self.text, position)
            if match is None:
                if parts:
                    return "".join(parts)
                if position < self.n and self.text[position] in "'\"":
                    raise self.error(position, "unterminated string in list")
                raise self.error(
                    position, f"expected a quoted string in the list, got {self.found(position)}"
                )
            body = match.group(1) if match.group(1) is not None else match.group(2)
            parts.append(self.decode(body, position))
            self.pos = match.end()

    # -- order_by ------------------------------------------------------------

    def parse_order_by(self) -> OrderBy:
        start = self.skip_ws()
        if start >= self.n:
            raise self.error(start, "empty clause: expected '<entity>.<key> [ASC|DESC]'")
        target = self.identifier()
        if not target.orderable:
            raise self.error(
                target.position, f"cannot order {self.schema.name}s by {target.describe()}"
            )
        ascending = True
        position = self.skip_ws()
        if position < self.n:
            word = self.peek_word()
            if word == "ASC" or word == "DESC":
                self.keyword(word)
                ascending = word == "ASC"
            else:
                hint = (
                    "; pass each order_by clause as a separate list item"
                    if self.text[position] == ","
                    else ""
                )
                raise self.error(
                    position,
                    f"expected ASC, DESC or end of input, got {self.found(position)}{hint}",
                    "Invalid ordering key" if word else None,
                )
            position = self.skip_ws()
            if position < self.n:
                raise self.error(position, f"expected end of input, got {self.found(position)}")
        return OrderBy(target.entity.name, target.key, ascending, target.aggregate)


def _combine(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    """``kind`` of ``operands``, flattening nested groups of the same kind."""
    if len(operands) == 1:
        return operands[0]
    flat: list[Node] = []
    for operand in operands:
        if isinstance(operand, kind):
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return kind(tuple(flat))


# -------------------------------------------------------------------- public API


def parse_filter(filter_string: str | None, schema: SearchSchema) -> Node | None:
    """Parse ``filter_string`` under ``schema``; None for an empty or blank filter.

    A filter longer than the ``search_max_filter_length`` setting, or with more
    comparisons than ``search_max_filter_terms``, is refused: every search's filter
    passes here, so these bound what any one search costs the database.
    """
    if filter_string is None:
        return None
    if not isinstance(filter_string, str):
        raise SearchSyntaxError(
            f"Invalid filter {filter_string!r}: expected a string, "
            f"got {type(filter_string).__name__}"
        )
    limit = settings.get("search_max_filter_length")
    if len(filter_string) > limit:
        raise InvalidParameterValue(
            f"Invalid filter: it is {len(filter_string):,} characters long, more than the "
            f"limit of {limit:,} (setting search_max_filter_length)"
        )
    node = _Parser(filter_string, schema, "filter").parse_filter()
    check_filter_terms(_count_comparisons(node), "comparisons")
    return node


def check_filter_terms(count: int, what: str) -> None:
    """Refuse a search of more terms (comparisons, or ``what`` else it tests) than the
    ``search_max_filter_terms`` setting allows."""
    limit = settings.get("search_max_filter_terms")
    if count > limit:
        raise InvalidParameterValue(
            f"Invalid filter: it has {count:,} {what}, more than the limit of {limit:,} "
            "(setting search_max_filter_terms)"
        )


def _count_comparisons(node: Node | None) -> int:
    if node is None:
        return 0
    if isinstance(node, Comparison):
        return 1
    return sum(_count_comparisons(operand) for operand in node.operands)


#: The most order_by clauses one search takes. Each is a join; SQLite 3.40 crashes on an
#: ORDER BY of a few dozen metrics, and no table is sorted by more than a few keys.
MAX_ORDER_BY = 10


def parse_order_by(order_by: Sequence[str] | None, schema: SearchSchema) -> list[OrderBy]:
    """Parse each ``"<entity>.<key> [ASC|DESC]"`` clause of ``order_by`` under ``schema``
    (at most :data:`MAX_ORDER_BY`). A single string is taken as a one-clause list.
    """
    if order_by is None:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    check_order_by_count(len(order_by))
    result: list[OrderBy] = []
    for clause in order_by:
        if not isinstance(clause, str):
            raise SearchSyntaxError(
                f"Invalid order_by clause {clause!r}: expected a string, "
                f"got {type(clause).__name__}"
            )
        result.append(_Parser(clause, schema, "order_by clause").parse_order_by())
    return result


def check_order_by_count(count: int) -> None:
    """Refuse more than :data:`MAX_ORDER_BY` order_by clauses."""
    if count > MAX_ORDER_BY:
        raise InvalidParameterValue(
            f"Invalid order_by: {count} clauses, more than the limit of {MAX_ORDER_BY}"
        )


def parse_run_filter(filter_string: str | None) -> Node | None:
    """Parse a ``search_runs`` filter string; None/""/blank -> None."""
    return parse_filter(filter_string, RUN_SCHEMA)


def parse_run_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``search_runs`` order_by clauses; a key may appear only once (as in MLflow)."""
    result = parse_order_by(order_by, RUN_SCHEMA)
    seen: set[tuple[str, str, str]] = set()
    for item in result:
        ident = (item.entity, item.key, item.aggregate)
        if ident in seen:
            raise SearchSyntaxError(
                f"Invalid order_by {list(order_by or ())!r}: "
                f"{_render_target(item.entity, item.key, item.aggregate)} appears more than once"
            )
        seen.add(ident)
    return result


def parse_experiment_filter(filter_string: str | None) -> Node | None:
    """Parse a ``search_experiments`` filter string; None/""/blank -> None."""
    return parse_filter(filter_string, EXPERIMENT_SCHEMA)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``search_experiments`` order_by clauses (attributes only)."""
    return parse_order_by(order_by, EXPERIMENT_SCHEMA)


# --------------------------------------------------------------------- rendering

_PLAIN_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words sqlparse (and so MLflow) would not read as a key part even after a dot.
_SQL_RESERVED = frozenset({"as", "case", "from", "in", "using", "values"})
_ESCAPES_FOR_OUTPUT = _CONTROL_CHARS | {ord("\\"): "\\\\", ord("'"): "\\'"}


def _entity_prefixes() -> dict[str, str | None]:
    """Canonical prefix of each entity name; None for the entity of bare names."""
    prefixes: dict[str, str | None] = {}
    for schema in _SCHEMAS:
        for entity in schema.entities:
            prefix = None if entity.name == schema.bare_entity else entity.prefixes[0]
            prefixes.setdefault(entity.name, prefix)
    return prefixes


_PREFIX_OF = _entity_prefixes()
_AGGREGATE_ENTITIES = frozenset(e.name for s in _SCHEMAS for e in s.entities if e.aggregates)


def _fits_quotes(text: str, quote: str, backslash_escapes: bool) -> bool:
    """True when ``quote + text + quote`` reads back as exactly ``text``.

    Mirrors the literal quoted-token rule: a doubled quote (or, for ' and ",
    a backslash-quote) does not end the token, the first other quote does.
    """
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        following = text[i + 1] if i + 1 < n else quote
        if char == quote:
            if following != quote:
                return False
            i += 2
        elif backslash_escapes and char == "\\" and following == quote:
            i += 2
        else:
            i += 1
    return i == n


def _escaped(text: str) -> str:
    return text.translate(_ESCAPES_FOR_OUTPUT)


def _render_string(value: str) -> str:
    for quote in ("'", '"'):
        if _fits_quotes(value, quote, backslash_escapes=True):
            return f"{quote}{value}{quote}"
    return f"E'{_escaped(value)}'"


def _render_key(key: str) -> str:
    for quote in ("`", '"', "'"):
        if _fits_quotes(key, quote, backslash_escapes=quote != "`"):
            return f"{quote}{key}{quote}"
    return f"E'{_escaped(key)}'"


def _is_plain_key(key: str, aggregate_entity: bool) -> bool:
    parts = key.split(".")
    if not all(_PLAIN_PART.fullmatch(p) and p.lower() not in _SQL_RESERVED for p in parts):
        return False
    return not (aggregate_entity and len(parts) > 1 and parts[-1] in AGGREGATES)


def _render_target(entity: str, key: str, aggregate: str) -> str:
    if entity not in _PREFIX_OF:
        raise ValueError(f"unknown entity {entity!r}")
    prefix = _PREFIX_OF[entity]
    if prefix is None:  # a bare attribute name
        if _PLAIN_PART.fullmatch(key) and key.upper() not in _KEYWORDS:
            return key
        for quote in ("`", '"'):
            if _fits_quotes(key, quote, backslash_escapes=quote != "`"):
                return f"{quote}{key}{quote}"
        raise ValueError(f"attribute name {key!r} cannot be written in a filter")
    aggregated = entity in _AGGREGATE_ENTITIES
    text = key if _is_plain_key(key, aggregated) else _render_key(key)
    if aggregate == LATEST:
        return f"{prefix}.{text}"
    if not aggregated or aggregate not in AGGREGATES:
        raise ValueError(f"aggregate {aggregate!r} is not valid for entity {entity!r}")
    return f"{prefix}.{text}.{aggregate}"


def _render_number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        raise ValueError("NaN cannot be written in a filter")
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value).replace("e+", "e")


def _render_comparison(node: Comparison) -> str:
    if node.op not in _ALL_OPS:
        raise ValueError(f"unknown operator {node.op!r}")
    target = _render_target(node.entity, node.key, node.aggregate)
    value = node.value
    if node.op in _NULL_OPS:
        return f"{target} {node.op}"
    if node.op in _LIST_OPS:
        if not isinstance(value, tuple | list) or not value:
            raise ValueError(f"{node.op} needs a non-empty tuple of strings, got {value!r}")
        items = ", ".join(f"'{_escaped(item)}'" for item in value)
        return f"{target} {node.op} ({items})"
    if isinstance(value, str):
        return f"{target} {node.op} {_render_string(value)}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{target} {node.op} {_render_number(value)}"
    raise ValueError(f"unsupported value {value!r} for operator {node.op}")


def _render(node: Node, inside_and: bool) -> str:
    if isinstance(node, Comparison):
        return _render_comparison(node)
    if not isinstance(node, And | Or):
        raise TypeError(f"not a filter node: {node!r}")
    if not node.operands:
        raise ValueError(f"{type(node).__name__} needs at least one operand")
    if len(node.operands) == 1:
        return _render(node.operands[0], inside_and)
    if isinstance(node, And):
        return " AND ".join(_render(operand, True) for operand in node.operands)
    text = " OR ".join(_render(operand, False) for operand in node.operands)
    return f"({text})" if inside_and else text


def to_filter_string(node: Node | None) -> str:
    """Canonical filter text for ``node``; parsing it gives back an equal tree.

    Attributes are written bare (``status = 'FINISHED'``), other entities with
    their plural prefix, keys and strings quoted only when needed, so the text
    is also a valid MLflow filter whenever the tree uses no labtrack extension.
    Raises ValueError for trees that no filter text can express (NaN values,
    empty groups, unknown entities or operators).
    """
    if node is None:
        return ""
    return _render(node, inside_and=False)
