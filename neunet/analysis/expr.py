"""The smart filter's safe predicate language: keep_if text -> a plain tree, and its evaluation.

A predicate allows names, numbers, strings, ``True``/``False``, ``+ - * / // % **``,
comparisons (chained too), ``and``, ``or``, ``not`` and parentheses; `parse_predicate`
whitelists the AST into nested lists (msgpack-safe) and refuses everything else with the
column at fault, and `evaluate` computes a tree with given name values. Nothing is ever
passed to Python's ``eval``. Standard library only.
"""
from __future__ import annotations

import ast
import difflib
import math
import operator

# Binary operators of the language: AST class -> (token, function).
_BINOPS = {ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub),
           ast.Mult: ("*", operator.mul), ast.Div: ("/", operator.truediv),
           ast.FloorDiv: ("//", operator.floordiv), ast.Mod: ("%", operator.mod),
           ast.Pow: ("**", operator.pow)}
# Comparison operators: AST class -> (token, function).
_CMPOPS = {ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le),
           ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
           ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne)}
# Token -> function, for evaluation of a compiled tree.
_FUNCS = {tok: fn for tok, fn in list(_BINOPS.values()) + list(_CMPOPS.values())}
# Upper bound of |exponent| in `**`, so a predicate cannot make a huge number.
_MAX_EXPONENT = 1000
# Longest predicate text accepted.
_MAX_EXPR_CHARS = 2000


class FilterError(ValueError):
    """An invalid filter (with the position of the error in a predicate) or a failed one."""


def suggest(word, choices) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _where(expr: str, node) -> str:
    lead = len(expr) - len(expr.lstrip())
    col = getattr(node, "col_offset", 0) + 1 + lead
    return f"keep_if {expr!r}, column {col}"


def _tree(node, expr: str):
    """Translate one whitelisted AST node into a plain list tree; refuse everything else."""
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return [op] + [_tree(v, expr) for v in node.values]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        op = {ast.Not: "not", ast.USub: "neg", ast.UAdd: "pos"}[type(node.op)]
        return [op, _tree(node.operand, expr)]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return ["bin", _BINOPS[type(node.op)][0], _tree(node.left, expr),
                _tree(node.right, expr)]
    if isinstance(node, ast.Compare) and all(type(o) in _CMPOPS for o in node.ops):
        return (["cmp", [_CMPOPS[type(o)][0] for o in node.ops], _tree(node.left, expr)]
                + [_tree(c, expr) for c in node.comparators])
    if isinstance(node, ast.Name):  # with its column, for error messages
        return ["name", node.id, node.col_offset + 1 + len(expr) - len(expr.lstrip())]
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str, bool):
        return ["const", node.value]
    raise FilterError(f"{_where(expr, node)}: {_describe(node)} is not allowed (only names, "
                      "numbers, strings, arithmetic, comparisons, and/or/not)")


def _describe(node) -> str:
    kinds = {ast.Call: "a function call", ast.Attribute: "attribute access",
             ast.Subscript: "indexing", ast.Lambda: "lambda", ast.List: "a list",
             ast.Tuple: "a tuple", ast.Dict: "a dict", ast.IfExp: "if-else",
             ast.Compare: "this comparison ('in'/'is')", ast.Constant: "this constant"}
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    return f"'{type(node).__name__}'"


def parse_predicate(expr: str) -> list:
    """Parse a predicate into a plain tree (nested lists).

    Raises
    ------
    FilterError
        With the column of the first offending character.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise FilterError("keep_if must be a non-empty string expression")
    if len(expr) > _MAX_EXPR_CHARS:
        raise FilterError(f"keep_if is longer than {_MAX_EXPR_CHARS} characters")
    if "\n" in expr.strip() or "\r" in expr:
        raise FilterError("keep_if must be a single line")
    try:
        node = ast.parse(expr.strip(), mode="eval").body
        return _tree(node, expr)
    except SyntaxError as err:
        lead = len(expr) - len(expr.lstrip())
        if err.offset:
            col, msg = err.offset + lead, err.msg
        else:  # Python reports offset 0 when the input ends too early
            col, msg = len(expr.rstrip()) + 1, "unexpected end of expression"
        raise FilterError(f"keep_if {expr!r}, column {col}: invalid syntax ({msg})") from None
    except (RecursionError, MemoryError):
        raise FilterError(f"keep_if {expr!r}: too deeply nested") from None


def tree_names(tree) -> dict[str, int]:
    """Names used by a compiled predicate -> column of their first use."""
    if tree[0] == "name":
        return {tree[1]: tree[2]}
    if tree[0] == "const":
        return {}
    out: dict[str, int] = {}
    for part in (tree[2:] if tree[0] in ("bin", "cmp") else tree[1:]):
        for name, col in tree_names(part).items():
            out[name] = min(col, out.get(name, col))
    return out


def _as_number(value, what):
    if isinstance(value, (bool, int, float)):
        return value
    raise FilterError(f"{what} needs numbers, got {value!r}")


def evaluate(tree, names: dict):
    """Evaluate a compiled predicate tree with the values in `names`."""
    op = tree[0]
    if op == "const":
        return tree[1]
    if op == "name":
        if tree[1] not in names:
            raise FilterError(f"unknown name {tree[1]!r} in keep_if{suggest(tree[1], names)}")
        return names[tree[1]]
    if op == "and":
        return all(bool(evaluate(t, names)) for t in tree[1:])
    if op == "or":
        return any(bool(evaluate(t, names)) for t in tree[1:])
    if op == "not":
        return not evaluate(tree[1], names)
    if op in ("neg", "pos"):
        value = _as_number(evaluate(tree[1], names), f"unary {op}")
        return -value if op == "neg" else +value
    if op == "bin":
        return _binary(tree[1], evaluate(tree[2], names), evaluate(tree[3], names))
    if op == "cmp":
        values = [evaluate(t, names) for t in tree[2:]]
        try:
            return _compare(tree[1], values)
        except TypeError:
            raise FilterError(f"cannot compare {values!r} with {tree[1]!r}") from None
    raise FilterError(f"corrupt predicate tree node {op!r}")


def _binary(tok, left, right):
    left, right = _as_number(left, f"'{tok}'"), _as_number(right, f"'{tok}'")
    if tok == "**" and abs(right) > _MAX_EXPONENT:
        raise FilterError(f"exponent {right} too large in keep_if")
    try:
        return _FUNCS[tok](left, right)
    except ZeroDivisionError:
        return math.nan
    except OverflowError:
        return math.inf


def _compare(toks, values):
    for tok, left, right in zip(toks, values, values[1:]):
        if tok not in ("==", "!=") and (isinstance(left, str) != isinstance(right, str)):
            raise FilterError(f"cannot order {left!r} and {right!r} with '{tok}'")
        if isinstance(left, (list, tuple)) or isinstance(right, (list, tuple)):
            raise FilterError(f"cannot compare a per-neuron list with '{tok}'")
        if not _FUNCS[tok](left, right):
            return False
    return True
