"""The README and docs/ stay true to the tree: length, links, anchors, module and file names.

Text only (no imports of neunet): every relative link in README.md and docs/*.md points to an
existing file and, with a `#fragment`, to a heading of that file (GitHub's anchor rules);
every ``python -m neunet.X`` names a runnable module; every dotted ``neunet.a.b`` name is a
module, or a name defined in one; every ``neunet/...``, ``tests/...`` path exists.
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
# The README's budget (lines), and the line by which the test command must appear.
README_MAX_LINES, TEST_COMMAND_BY_LINE = 250, 40
# A fenced code block (its text is no link and no heading).
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
# An inline link or image: [text](target "optional title").
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A `python -m neunet.X` command.
RUN_MODULE = re.compile(r"python3? -m (neunet(?:\.\w+)*)")
# A dotted neunet name (module, or module attribute).
DOTTED = re.compile(r"(?<![\w./-])neunet(?:\.[A-Za-z_]\w*)+")
# A repository path written in the text (globs such as kernels_*.py allowed).
REPO_PATH = re.compile(r"(?<![\w./-])((?:neunet|tests|benchmarks|examples|scripts)/[\w/.*-]*\w)")


def _prose(path: Path) -> str:
    return FENCE.sub("", path.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set:
    """Every heading anchor of a Markdown file (repeated headings get -1, -2, ...)."""
    seen: dict = {}
    out = set()
    for line in _prose(path).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def _module_file(dotted: str) -> Path | None:
    """The source of module `dotted` (a .py file or a package's __init__.py), if any."""
    rel = Path(*dotted.split("."))
    for candidate in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _defines(source: Path, name: str) -> bool:
    """Whether a module defines or imports `name` at top level, or names it as a string
    (the lazy tables of neunet/__init__.py and neunet/sim/__init__.py)."""
    text = source.read_text()
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found = {node.name}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found = {(a.asname or a.name).split(".")[0] for a in node.names}
        else:
            continue
        if name in found:
            return True
    return re.search(rf"[\"']{re.escape(name)}[\"']", text) is not None


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    head = "\n".join(lines[:TEST_COMMAND_BY_LINE])
    for command in ("scripts/demo", "scripts/test"):
        assert command in head, f"{command} is not in the first {TEST_COMMAND_BY_LINE} lines"
        assert (ROOT / command).is_file()


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_relative_links_reach_a_file_and_its_heading(doc):
    broken = []
    for target in LINK.findall(_prose(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{fragment} in {dest.name}")
    assert not broken, f"{_doc_id(doc)}:\n" + "\n".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_commands_modules_and_paths_exist(doc):
    text = doc.read_text()
    wrong = [f"python -m {m}: no such runnable module" for m in RUN_MODULE.findall(text)
             if not ((ROOT / Path(*m.split("."))).with_suffix(".py").is_file()
                     or (ROOT / Path(*m.split(".")) / "__main__.py").is_file())]
    for dotted in sorted(set(DOTTED.findall(text))):
        parts = dotted.split(".")
        k = max(i for i in range(1, len(parts) + 1) if _module_file(".".join(parts[:i])))
        if k < len(parts) and not _defines(_module_file(".".join(parts[:k])), parts[k]):
            wrong.append(f"{dotted}: {'.'.join(parts[:k])} has no {parts[k]!r}")
    for path in sorted(set(REPO_PATH.findall(text))):
        if not list(ROOT.glob(path.rstrip("/"))):
            wrong.append(f"{path}: no such file")
    assert not wrong, f"{_doc_id(doc)}:\n" + "\n".join(wrong)
