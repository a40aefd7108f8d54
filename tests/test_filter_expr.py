"""Tests of neunet.analysis.expr: the smart filter's safe predicate language."""
import math

import msgpack
import pytest

from neunet.analysis.expr import (
    INT_LIMIT,
    MAX_DEPTH,
    FilterError,
    evaluate,
    parse_predicate,
    tree_names,
)


@pytest.mark.parametrize("expr, col, what", [
    ("mean_rate >", 12, "invalid syntax"),
    ("mean_rate > 5 and", 18, "invalid syntax"),
    ("__import__('os').system('true')", 1, "function call"),
    ("mean_rate > 5 and open('x')", 19, "function call"),
    ("mean_rate.real > 1", 1, "attribute"),
    ("pr[0] > 1", 1, "indexing"),
    ("neuron_model in ('HH-GH',)", 1, "in"),
    ("(lambda: 1)() == 1", 1, "function call"),
    ("mean_rate if 1 else 2", 1, "if-else"),
    ("  1 + x.y", 7, "attribute"),
    ("mean_rate > 5; import os", 14, "invalid syntax"),
])
def test_bad_expressions_are_refused_with_position(expr, col, what):
    with pytest.raises(FilterError, match=f"column {col}:.*{what}"):
        parse_predicate(expr)


def test_deeply_nested_expression_is_refused_cleanly():
    with pytest.raises(FilterError):
        parse_predicate("(" * 1500 + "1" + ")" * 1500)


def test_the_depth_guard_itself_refuses_deep_trees():
    """Within the length cap, and past the parser: '1+1+...' of 1999 characters is 999 levels
    deep (without the guard, building its tree overflows Python's stack)."""
    text = "1+" * 999 + "1"
    assert len(text) < 2000
    with pytest.raises(FilterError, match="too deeply nested"):
        parse_predicate(text)
    with pytest.raises(FilterError, match=f"more than {MAX_DEPTH} levels"):
        parse_predicate("x" + " + x" * (MAX_DEPTH + 1) + " > 0")
    deepest = parse_predicate("x" + " + x" * (MAX_DEPTH - 1) + " > 0")
    assert evaluate(deepest, {"x": 1}) is True


@pytest.mark.parametrize("expr, x, expected", [
    ("x ** 40", 9, 9.0 ** 40),              # past 2**63: a float, not a 127-bit integer
    ("x ** 4000", 9, math.inf),              # float overflow, at once
    ("((x ** 999) ** 999) ** 999", 9, math.inf),
    ("(-x) ** 4001", 9, -math.inf),
    ("x * 2 ** 62 * 2 ** 62", 3, 3.0 * 2.0 ** 124),
    ("x ** 2", 2 ** 62, 2.0 ** 124),
    ("x ** 0.5", -4, math.nan),              # complex in Python: nan here
    ("x // 0", 1, math.nan),
    ("2 ** 62 - 1 + 2 ** 62", 0, 2 ** 63 - 1),  # exact while it fits
])
def test_numeric_results_stay_bounded(expr, x, expected):
    value = evaluate(parse_predicate(expr), {"x": x})
    assert type(value) in (int, float)
    if isinstance(value, int):
        assert -INT_LIMIT <= value < INT_LIMIT and value == expected
    elif math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected


def test_constants_are_checked_at_parse_and_every_tree_travels_by_msgpack():
    for bad in ("2 ** 100000 > 1", "((9**999)**999)**999 > x", "x < 1e300 * 1e10"):
        with pytest.raises(FilterError, match="overflows"):
            parse_predicate(bad)
    with pytest.raises(FilterError, match="column 5: the integer 18446744073709551616 is too"):
        parse_predicate("x < 18446744073709551616")
    for ok in ("x < 9223372036854775807", "x < -9223372036854775807 - 1", "x < 1e300 * 10"):
        tree = parse_predicate(ok)
        assert msgpack.unpackb(msgpack.packb(tree)) == tree


def test_parse_predicate_tree_shape():
    assert parse_predicate("a < b <= 3") == ["cmp", ["<", "<="], ["name", "a", 1],
                                             ["name", "b", 5], ["const", 3]]
    assert tree_names(parse_predicate("x + y * 2 > z and not w or x")) == {
        "x": 1, "y": 5, "z": 13, "w": 23}
