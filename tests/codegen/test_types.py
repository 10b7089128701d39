"""Validators to TypeScript: each kind's type, the layout, the data model, and a property test
that every value a Python validator accepts is a value of the generated type, in tsc."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from prefmem import codegen, define_schema, define_table, v
from prefmem.errors import ValidationError
from prefmem.functions import FunctionDef, Registry
from prefmem.ids import new_id
from prefmem.validators import Validator, args_validator
from prefmem.values import INT64_MAX, INT64_MIN, Int64
from tests.helpers.typescript import tsc, typescript_folder

SCHEMA = define_schema({"notes": define_table({"title": v.string()})})


def _handler(ctx, args):
    """Does nothing."""


def _query(returns: Validator | None = None, args=None, handler=_handler, internal=False) -> FunctionDef:
    return FunctionDef(handler, "query", internal, args_validator(args), returns)


def _declared(fn: FunctionDef, schema=SCHEMA) -> str:
    fn.path = "m:f"
    return codegen.api_declarations(Registry(functions={"m:f": fn}), schema)


KINDS = [
    ("string", v.string(), "string"),
    ("number", v.number(), "number"),
    ("float64", v.float64(), "number"),
    ("int64", v.int64(), "bigint"),
    ("boolean", v.boolean(), "boolean"),
    ("null", v.null(), "null"),
    ("bytes", v.bytes(), "ArrayBuffer"),
    ("any", v.any(), "any"),
    ("id", v.id("notes"), 'Id<"notes">'),
    ("id of a system table", v.id("_storage"), 'Id<"_storage">'),
    ("string literal", v.literal('say "hi"\n'), '"say \\"hi\\"\\n"'),
    ("float literal", v.literal(0.25), "0.25"),
    ("whole float literal", v.literal(-2.0), "-2"),
    ("large float literal", v.literal(1e300), "1e+300"),
    ("not-a-number literal", v.literal(math.nan), "number"),
    ("int literal", v.literal(7), "7"),  # a plain int is a number
    ("int64 literal", v.literal(Int64(7)), "7n"),
    ("negative int64 literal", v.literal(Int64(-7)), "-7n"),
    ("boolean literal", v.literal(False), "false"),
    ("null literal", v.literal(None), "null"),
    ("array", v.array(v.int64()), "Array<bigint>"),
    ("object", v.object({"a": v.string(), "b": v.optional(v.number()), "c-d": v.null()}),
     '{ a: string; b?: number; "c-d": null }'),
    ("empty object", v.object({}), "{}"),
    ("record", v.record(v.id("notes"), v.array(v.string())), 'Record<Id<"notes">, Array<string>>'),
    ("union", v.union(v.string(), v.array(v.number())), "string | Array<number>"),
    ("nullable", v.nullable(v.id("notes")), 'Id<"notes"> | null'),
    ("empty union", v.union(), "never"),
    ("optional outside an object", v.optional(v.string()), "string"),
]


@pytest.mark.parametrize(("validator", "expected"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_each_validator_kind_as_a_return_type(validator, expected):
    assert f'f: FunctionReference<"query", "public", {{}}, {expected}>;' in _declared(_query(validator, {}))


@pytest.mark.parametrize(("validator", "expected"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_each_validator_kind_as_an_argument(validator, expected):
    text = _declared(_query(v.null(), {"x": validator}))
    assert f'f: FunctionReference<"query", "public", {{ x{"?" if validator.is_optional else ""}: {expected} }}, null>;' \
        in text


def test_missing_validators_are_any_and_say_so():
    text = _declared(_query())
    assert 'f: FunctionReference<"query", "public", any, any>;' in text
    assert "Arguments: any (no `args=` validator)." in text and "Returns: any (no `returns=` validator)." in text
    assert "`returns=`" not in _declared(_query(v.string(), {}))


def test_arguments_that_are_no_object_admit_no_call():
    assert 'f: FunctionReference<"query", "public", never, null>;' in _declared(_query(v.null(), v.string()))
    union = _declared(_query(v.null(), v.union(v.string(), v.object({"a": v.string()}))))
    assert 'f: FunctionReference<"query", "public", { a: string }, null>;' in union


def test_an_id_of_a_table_outside_the_schema_is_a_generic_id():
    text = _declared(_query(v.id("ghosts"), {}))
    assert 'f: FunctionReference<"query", "public", {}, GenericId<"ghosts">>;' in text
    assert 'import type { GenericId } from "convex/values";' in text
    assert "GenericId" not in _declared(_query(v.id("notes"), {}))
    assert 'Id<"ghosts">' in _declared(_query(v.id("ghosts"), {}), schema=None)  # no schema: any table


def test_long_types_take_one_field_or_member_per_line():
    fields = {f"field_number_{i}": v.string() for i in range(6)}
    text = _declared(_query(v.union(v.object(fields), v.null()), {"short": v.string()}))
    member = "".join(f"        field_number_{i}: string;\n" for i in range(6))
    assert ('    f: FunctionReference<"query", "public", { short: string },\n'
            "      | {\n" + member + "      }\n"
            "      | null>;\n") in text


def test_functions_nest_by_module_and_split_by_visibility():
    registry = Registry(functions={
        "b:x": _query(v.string(), {}),
        "a/deep/mod:y": _query(v.string(), {}),
        "a/deep/mod:_z": _query(v.string(), {}, internal=True),
        "a:default": FunctionDef(_handler, "mutation", False, args_validator({}), None),
    })
    for path, fn in registry.functions.items():
        fn.path = path
    text = codegen.api_declarations(registry, SCHEMA)
    public, internal = text.split("export declare const internal")
    assert public.index("  a: {") < public.index("    deep: {") < public.index("      mod: {") \
        < public.index("        y: FunctionReference") < public.index("  b: {")
    assert 'default: FunctionReference<"mutation", "public", {}, any>;' in public
    assert "_z" not in public and '_z: FunctionReference<"query", "internal", {}, string>;' in internal
    assert "x:" not in internal and "b: {" not in internal


def test_the_docstring_is_the_doc_comment():
    def documented(ctx, args):
        """First line of the summary
        goes on here, with a */ in it.

        Details that stay out of the comment.
        """

    text = _declared(_query(v.string(), {}, handler=documented))
    assert ("    /**\n     * `m:f` (query):\n     * First line of the summary\n"
            "     * goes on here, with a *\\/ in it.\n     */\n") in text
    assert "Details" not in text


def test_data_model_of_each_table():
    schema = define_schema({
        "docs": define_table({"n": v.int64(), "meta": v.object({"a": v.optional(v.any()), "b": v.string()}),
                              "m": v.record(v.string(), v.number())})
        .index("by_n", ["n"]).search_index("s", search_field="meta.b")
        .vector_index("vec", vector_field="emb", dimensions=2, filter_fields=["n", "m"]),
        "shapes": define_table(v.union(v.object({"k": v.literal("a")}), v.object({"k": v.literal("b"), "x": v.null()}))),
    })
    text = codegen.data_model_declarations(schema)
    assert """
  docs: {
    document: {
      _id: Id<"docs">;
      _creationTime: number;
      n: bigint;
      meta: { a?: any; b: string };
      m: Record<string, number>;
    };
    fieldPaths:
      | "_creationTime"
      | "_id"
      | "m"
      | "meta"
      | "meta.a"
      | "meta.b"
      | "n"
      | `m.${string}`
      | `meta.a.${string}`;
    indexes: { by_creation_time: ["_creationTime"]; by_id: ["_id"]; by_n: ["n", "_creationTime"] };
    searchIndexes: { s: { searchField: "meta.b"; filterFields: never } };
    vectorIndexes: { vec: { vectorField: "emb"; dimensions: number; filterFields: "m" | "n" } };
  };
  shapes: {
    document:
      | { _id: Id<"shapes">; _creationTime: number; k: "a" }
      | { _id: Id<"shapes">; _creationTime: number; k: "b"; x: null };
    fieldPaths: "_creationTime" | "_id" | "k" | "x";
""" in text
    assert "export type DataModel = {\n" in text and "} & AnyDataModel" not in text


def test_data_model_without_a_schema_or_with_loose_table_names():
    none = codegen.data_model_declarations(None)
    assert "export type DataModel = AnyDataModel;" in none and "export type TableNames = string;" in none
    loose = codegen.data_model_declarations(define_schema({"t": define_table({})}, strict_table_names=False))
    assert "} & AnyDataModel;" in loose and 'import type { AnyDataModel, DocumentByName' in loose


# ---------------------------------------------------------------------------- property

_NAMES = st.text(min_size=1, max_size=6).filter(lambda s: not s.startswith("$") and s != "__proto__")


def _ts_value(value) -> str:
    """A TypeScript expression of a Convex value (ids come with their cast already)."""
    if isinstance(value, _IdValue):
        return f"{json.dumps(value.text)} as Id<{json.dumps(value.table)}>"
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value)
    if type(value) is Int64:
        return f"{value}n"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return "-0" if value == 0 and math.copysign(1, value) < 0 else repr(value)
    if isinstance(value, bytes):
        return f"new Uint8Array({list(value)}).buffer"
    if isinstance(value, list):
        return "[" + ", ".join(map(_ts_value, value)) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)}: {_ts_value(item)}" for k, item in value.items()) + " }"


class _IdValue(str):
    table = ""
    text = ""


def _id_value(table: str) -> _IdValue:
    value = _IdValue(new_id(table))
    value.table, value.text = table, str(value)
    return value


_FLOATS = st.floats()
_INTS = st.integers(INT64_MIN, INT64_MAX).map(Int64)
_NUMBER_INTS = st.integers(-(2**53), 2**53)  # plain ints: numbers
_LEAVES = st.sampled_from([
    (v.string(), st.text(max_size=5)),
    (v.number(), st.one_of(_FLOATS, _NUMBER_INTS)),
    (v.int64(), _INTS),
    (v.boolean(), st.booleans()),
    (v.null(), st.none()),
    (v.bytes(), st.binary(max_size=3)),
    (v.any(), st.one_of(st.text(max_size=3), _FLOATS, _INTS, _NUMBER_INTS, st.none(),
                        st.lists(st.booleans(), max_size=2))),
    (v.id("notes"), st.builds(_id_value, st.just("notes"))),
    (v.id("_storage"), st.builds(_id_value, st.just("_storage"))),
]) | st.one_of(st.text(max_size=4), _FLOATS, _INTS, _NUMBER_INTS, st.booleans(), st.none()).map(
    lambda x: (v.literal(x), st.just(x)))


def _extend(children):
    def obj(fields):
        validator = v.object({name: v.optional(val) if optional else val for name, (val, _, optional) in fields.items()})
        values = st.fixed_dictionaries({n: s for n, (_, s, opt) in fields.items() if not opt},
                                       optional={n: s for n, (_, s, opt) in fields.items() if opt})
        return validator, values

    return st.one_of(
        children.map(lambda c: (v.array(c[0]), st.lists(c[1], max_size=3))),
        children.map(lambda c: (v.record(v.string(), c[0]), st.dictionaries(_NAMES, c[1], max_size=3))),
        st.lists(children, min_size=1, max_size=3).map(
            lambda cs: (v.union(*(c[0] for c in cs)), st.one_of(*(c[1] for c in cs)))),
        st.dictionaries(_NAMES, st.tuples(children, st.booleans()), max_size=4).map(
            lambda fs: obj({n: (c[0], c[1], opt) for n, (c, opt) in fs.items()})),
    )


SHAPES = st.recursive(_LEAVES, _extend, max_leaves=6)


# Each example is one tsc run (seconds on a loaded machine), so no shrinking: tsc's error already
# names the line, and the failure shows the generated declarations.
@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_every_value_a_validator_accepts_has_the_generated_type(tmp_path_factory, data):
    shapes = data.draw(st.lists(SHAPES, min_size=15, max_size=30), label="validators")
    functions, lines = {}, []
    for i, (validator, values) in enumerate(shapes):
        value = data.draw(values, label=f"value {i}")
        try:
            validator.check(value)  # the Python side accepts it...
        except ValidationError:
            continue  # (a NaN literal matches no value, not even NaN)
        functions[f"m:f{i}"] = fn = _query(validator, {})
        fn.path = f"m:f{i}"
        lines.append(f"export const v{i}: FunctionReturnType<typeof api.m.f{i}> = {_ts_value(value)};")
    project = typescript_folder(tmp_path_factory.mktemp("values"))
    codegen.write(project / codegen.GENERATED_DIR, codegen.generate(Registry(functions=functions), None))
    (project / "values.ts").write_text(
        'import type { FunctionReturnType } from "convex/server";\n'
        'import type { api } from "./_generated/api.js";\n'
        'import type { Id } from "./_generated/dataModel.js";\n' + "\n".join(lines) + "\n")
    status, errors, output = tsc(project, "values.ts")
    assert (status, errors) == (0, []), output + "\n" + (project / "_generated" / "api.d.ts").read_text()  # ...so does tsc
