"""The safe expression language of the smart filter and of queries: text -> a plain tree, evaluated.

A predicate allows names, numbers, strings, ``True``/``False``, ``+ - * / // % **``,
comparisons (chained too), ``and``, ``or``, ``not`` and parentheses; `parse_predicate`
whitelists the AST into nested lists (msgpack-safe) and refuses everything else with the
column at fault, and `evaluate` computes a tree with given name values (`neunet.analysis.
expr_table` evaluates the same trees over the columns of a table). Nothing is ever passed to
Python's ``eval``. Standard library only.

Bounds, so that no text of `MAX_EXPR_CHARS` can hang or crash its evaluator: trees are at most
`MAX_DEPTH` deep; integer literals must fit a signed 64-bit integer (what msgpack and numpy
carry); an integer result beyond that range is computed as a float instead, so every value
stays a bounded Python int or a float (overflow gives ``inf``, never a million-digit number);
and a constant part of a predicate that overflows (``9 ** 999``) is refused when it is parsed.
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
# Longest predicate text accepted.
MAX_EXPR_CHARS = 2000
# Deepest tree accepted (nested operators and parentheses), far below Python's recursion limit.
MAX_DEPTH = 100
# Integers stay within [-INT_LIMIT, INT_LIMIT): literals beyond are refused, results become floats.
INT_LIMIT = 2 ** 63


class FilterError(ValueError):
    """An invalid filter (with the position of the error in a predicate) or a failed one."""


def alias(name: str) -> str:
    """The identifier form of a parameter or column name: `neuron-model` -> `neuron_model`."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in str(name))


def suggest(word, choices) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _where(expr: str, node, label: str = "keep_if") -> str:
    lead = len(expr) - len(expr.lstrip())
    col = getattr(node, "col_offset", 0) + 1 + lead
    return f"{label} {expr!r}, column {col}"


def _tree(node, expr: str, label: str = "keep_if", depth: int = 0):
    """Translate one whitelisted AST node into a plain list tree; refuse everything else."""
    if depth > MAX_DEPTH:
        raise FilterError(f"{label} {expr!r}: too deeply nested (more than {MAX_DEPTH} levels)")
    sub = lambda n: _tree(n, expr, label, depth + 1)
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return [op] + [sub(v) for v in node.values]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        op = {ast.Not: "not", ast.USub: "neg", ast.UAdd: "pos"}[type(node.op)]
        return [op, sub(node.operand)]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return ["bin", _BINOPS[type(node.op)][0], sub(node.left), sub(node.right)]
    if isinstance(node, ast.Compare) and all(type(o) in _CMPOPS for o in node.ops):
        return (["cmp", [_CMPOPS[type(o)][0] for o in node.ops], sub(node.left)]
                + [sub(c) for c in node.comparators])
    if isinstance(node, ast.Name):  # with its column, for error messages
        return ["name", node.id, node.col_offset + 1 + len(expr) - len(expr.lstrip())]
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str, bool):
        if type(node.value) is int and node.value >= INT_LIMIT:
            raise FilterError(f"{_where(expr, node, label)}: the integer {_short(node.value)} "
                              "is too large (integers must be below 2**63; write a float, "
                              "e.g. 1e20)")
        return ["const", node.value]
    raise FilterError(f"{_where(expr, node, label)}: {_describe(node)} is not allowed (only "
                      "names, numbers, strings, arithmetic, comparisons, and/or/not)")


def _short(number) -> str:
    """A number as text, abridged when long."""
    text = repr(number)
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)"


def _describe(node) -> str:
    kinds = {ast.Call: "a function call", ast.Attribute: "attribute access",
             ast.Subscript: "indexing", ast.Lambda: "lambda", ast.List: "a list",
             ast.Tuple: "a tuple", ast.Dict: "a dict", ast.IfExp: "if-else",
             ast.Compare: "this comparison ('in'/'is')", ast.Constant: "this constant"}
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    return f"'{type(node).__name__}'"


def parse_predicate(expr: str, label: str = "keep_if") -> list:
    """Parse a predicate into a plain tree (nested lists), its constant parts checked.

    Parameters
    ----------
    expr : str
        The predicate text (one line, at most `MAX_EXPR_CHARS` characters).
    label : str
        What the text is, in error messages ("keep_if", "query").

    Raises
    ------
    FilterError
        With the column of the first offending character.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise FilterError(f"{label} must be a non-empty string expression")
    if len(expr) > MAX_EXPR_CHARS:
        raise FilterError(f"{label} is longer than {MAX_EXPR_CHARS} characters")
    if "\n" in expr.strip() or "\r" in expr:
        raise FilterError(f"{label} must be a single line")
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError as err:
        lead = len(expr) - len(expr.lstrip())
        if err.offset:
            col, msg = err.offset + lead, err.msg
        else:  # Python reports offset 0 when the input ends too early
            col, msg = len(expr.rstrip()) + 1, "unexpected end of expression"
        raise FilterError(f"{label} {expr!r}, column {col}: invalid syntax ({msg})") from None
    except (RecursionError, MemoryError):  # the parser's own limit (deep parentheses)
        raise FilterError(f"{label} {expr!r}: too deeply nested") from None
    tree = _tree(node, expr, label)
    _check_constants(tree, expr, label)
    return tree


def _check_constants(tree, expr: str, label: str):
    """Fold the constant parts of `tree`; refuse one that overflows (a huge power) or fails.
    Returns the folded value, or None when `tree` uses a name."""
    op = tree[0]
    if op == "name":
        return None
    if op == "const":
        return tree
    parts = tree[2:] if op in ("bin", "cmp") else tree[1:]
    folded = [_check_constants(t, expr, label) for t in parts]
    if any(f is None for f in folded):
        return None
    try:
        value = evaluate(tree, {})
    except FilterError as err:
        raise FilterError(f"{label} {expr!r}: {err}") from None
    if op == "bin" and isinstance(value, float) and math.isinf(value) and not any(
            isinstance(f[1], float) and math.isinf(f[1]) for f in folded):
        raise FilterError(f"{label} {expr!r}: a constant overflows ('{tree[1]}' of "
                          f"{_short(folded[0][1])} and {_short(folded[1][1])})")
    return ["const", value]


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
    raise FilterError(f"{what} needs numbers, got {value!r:.60}")


def bounded(value):
    """An arithmetic result within the language's bounds: an int outside
    [-`INT_LIMIT`, `INT_LIMIT`) becomes a float (inf when beyond float range); complex -> nan."""
    if type(value) is int and not -INT_LIMIT <= value < INT_LIMIT:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, complex):  # a negative number to a fractional power
        return math.nan
    return value


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
        return bounded(-value) if op == "neg" else +value
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
    """One arithmetic operation within the bounds (see the module docstring)."""
    left, right = bounded(_as_number(left, f"'{tok}'")), bounded(_as_number(right, f"'{tok}'"))
    if tok == "**" and not _small_power(left, right):
        left = float(left)  # would leave the integer range (or take long): as a float
    try:
        return bounded(_FUNCS[tok](left, right))
    except ZeroDivisionError:
        return math.nan
    except OverflowError:  # only a float power overflows with an error: its sign
        odd = float(right).is_integer() and int(right) % 2 == 1
        return -math.inf if left < 0 and odd else math.inf


def _small_power(base, exponent) -> bool:
    """Whether base ** exponent is computed as is: not both ints, or an integer result below
    2**128 (so no integer power grows far past the bounds before `bounded`)."""
    if not (type(base) in (int, bool) and type(exponent) in (int, bool)):
        return True
    if exponent < 0 or abs(base) <= 1:
        return True
    return (int(abs(base)).bit_length() - 1) * exponent <= 64


def _compare(toks, values):
    for tok, left, right in zip(toks, values, values[1:]):
        if tok not in ("==", "!=") and (isinstance(left, str) != isinstance(right, str)):
            raise FilterError(f"cannot order {left!r} and {right!r} with '{tok}'")
        if isinstance(left, (list, tuple)) or isinstance(right, (list, tuple)):
            raise FilterError(f"cannot compare a per-neuron list with '{tok}'")
        if not _FUNCS[tok](left, right):
            return False
    return True
