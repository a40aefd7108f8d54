"""Tests of neunet.analysis.expr: the smart filter's safe predicate language."""
import pytest

from neunet.analysis.expr import FilterError, parse_predicate, tree_names


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


def test_parse_predicate_tree_shape():
    assert parse_predicate("a < b <= 3") == ["cmp", ["<", "<="], ["name", "a", 1],
                                             ["name", "b", 5], ["const", 3]]
    assert tree_names(parse_predicate("x + y * 2 > z and not w or x")) == {
        "x": 1, "y": 5, "z": 13, "w": 23}
