"""How the dashboard reads and writes Convex values and validators (dashboard/src/values.js), run
in node with the page's own npm `convex`: int64 as `42n`, Convex's JSON forms for bytes and
special floats, and validators written as one would write them."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.helpers.server import ROOT

DASHBOARD = ROOT / "dashboard"

SCRIPT = r"""
import { formatValue, parseValue, validatorText } from "./src/values.js";
const typed = `{"n": 42n, "neg": -7n, "s": "12n in a string", "b": {"$bytes": "AQI="},
                "nan": {"$float": "AAAAAAAA+H8="}, "i": {"$integer": "KgAAAAAAAAA="}, "list": [1, 2.5, null, true]}`;
const value = parseValue(typed);
const out = {
  types: [typeof value.n, typeof value.neg, typeof value.i, value.b instanceof ArrayBuffer, Number.isNaN(value.nan)],
  numbers: [String(value.n), String(value.neg), String(value.i)],
  string: value.s,
  text: formatValue(value),
  again: formatValue(parseValue(formatValue(value, 2))),
  missing: formatValue(undefined),
  validator: validatorText({type: "object", value: {
    a: {fieldType: {type: "bigint"}, optional: true},
    b: {fieldType: {type: "union", value: [{type: "literal", value: "x"}, {type: "null"}]}, optional: false},
    c: {fieldType: {type: "array", value: {type: "id", tableName: "users"}}, optional: false}}}),
};
let error = null;
try { parseValue("{oops}"); } catch (err) { error = err.name; }
out.error = error;
console.log(JSON.stringify(out));
"""


def test_values_typed_in_the_dashboard_round_trip():
    node = shutil.which("node")
    if node is None or not (DASHBOARD / "node_modules" / "convex").is_dir():
        pytest.fail("node and dashboard/node_modules are needed: run `make test` (it runs npm ci in dashboard/)")
    run = subprocess.run([node, "--input-type=module", "-e", SCRIPT], cwd=DASHBOARD, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["types"] == ["bigint", "bigint", "bigint", True, True]
    assert out["numbers"] == ["42", "-7", "42"] and out["string"] == "12n in a string"
    assert out["text"] == ('{"n":42n,"neg":-7n,"s":"12n in a string","b":{"$bytes":"AQI="},'
                           '"nan":{"$float":"AAAAAAAA+H8="},"i":42n,"list":[1,2.5,null,true]}')
    assert out["again"] == out["text"] and out["missing"] == "(missing)"
    assert out["validator"] == ('v.object({\n  a: v.optional(v.int64()),\n  b: v.union(v.literal("x"), v.null()),\n'
                                '  c: v.array(v.id("users")),\n})')
    assert out["error"] == "SyntaxError"
