"""The documents against the code: settings, GraphQL examples, links and the README's length.

Plain file reading, no services: documents drift silently when settings are added or renamed,
when the schema changes under an example, or when a section moves to another file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graphql import GraphQLError, parse, validate

from app.settings import Settings
from schema import schema

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECURITY = ROOT / "SECURITY.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, SECURITY, *DOCS]
README_MAX_LINES = 250

PREFIX = str(Settings.model_config.get("env_prefix", ""))
SETTING_NAME = re.compile(rf"\b{PREFIX}[A-Z0-9_]*[A-Z0-9]")
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# Inline links and images, [text](target "title"); reference-style links are not used here.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the block's first content line, 1-based
    language: str
    text: str


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def split_markdown(path: Path) -> tuple[list[Block], list[tuple[int, str]]]:
    """The fenced code blocks of a document, and its other lines (numbered from 1)."""
    blocks: list[Block] = []
    prose: list[tuple[int, str]] = []
    fence: str | None = None
    language, start = "", 0
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, language, start, body = match.group(1), match.group(2).lower(), number + 1, []
        elif fence is not None and line.strip() == fence:
            blocks.append(Block(path, start, language, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append((number, line))
    return blocks, prose


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link targets and code marks dropped, punctuation removed."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in split_markdown(path)[1]:
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        # GitHub numbers repeated headings: name, name-1, name-2, ...
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    return [
        (number, match.group(1))
        for number, line in split_markdown(path)[1]
        for match in LINK.finditer(CODE_SPAN.sub("code", line))
    ]


def test_every_setting_is_in_the_configuration_document() -> None:
    documented = set(SETTING_NAME.findall(CONFIGURATION.read_text(encoding="utf-8")))
    settings = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    missing = sorted(settings - documented)
    assert not missing, f"add to {_relative(CONFIGURATION)}: {', '.join(missing)}"


# Variables of Chronos's own clients, not of the server: documented, but not settings.
CLIENT_VARIABLES = {f"{PREFIX}API_KEY"}  # the key `python -m app.cli demo` sends


def test_every_setting_named_in_the_documents_exists() -> None:
    settings = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields} | CLIENT_VARIABLES
    stale = [
        f"{_relative(path)}: {name}"
        for path in [*DOCUMENTS, ROOT / ".env.example"]
        for name in sorted(set(SETTING_NAME.findall(path.read_text(encoding="utf-8"))))
        if name not in settings
    ]
    assert not stale, "not settings (renamed or removed?):\n" + "\n".join(stale)


def _graphql_problems(block: Block) -> list[str]:
    try:
        document = parse(block.text)
    except GraphQLError as error:
        return [_located(block, error)]
    return [_located(block, error) for error in validate(schema._schema, document)]


def _located(block: Block, error: GraphQLError) -> str:
    offset = error.locations[0].line - 1 if error.locations else 0
    return f"{_relative(block.path)}:{block.line + offset}: {error.message}"


def test_every_graphql_example_validates_against_the_schema() -> None:
    blocks = [block for path in DOCUMENTS for block in split_markdown(path)[0] if block.language == "graphql"]
    assert blocks, "no ```graphql blocks found: did the fence language change?"
    problems = [problem for block in blocks for problem in _graphql_problems(block)]
    assert not problems, "GraphQL examples that do not validate:\n" + "\n".join(problems)


def test_every_relative_link_points_to_a_file_and_heading_that_exist() -> None:
    broken: list[str] = []
    for path in [README, SECURITY, *DOCS]:
        for number, target in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{_relative(path)}:{number}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{_relative(path)}:{number}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_document_in_docs_has_a_table_of_contents() -> None:
    missing: list[str] = []
    for path in DOCS:
        headings = {
            slug(match.group(2))
            for _, line in split_markdown(path)[1]
            if (match := HEADING.match(line)) and match.group(1) == "##"
        }
        listed = {target.removeprefix("#") for _, target in links(path) if target.startswith("#")}
        missing.extend(f"{_relative(path)}: #{name}" for name in sorted(headings - listed - {"contents"}))
    assert DOCS, "docs/ holds no documents"
    assert not missing, "headings missing from the document's Contents:\n" + "\n".join(missing)


def test_the_readme_maps_every_document() -> None:
    linked = {target.partition("#")[0] for _, target in links(README)}
    unmapped = sorted(_relative(path) for path in DOCS if _relative(path) not in linked)
    assert not unmapped, f"add to the README's documentation map: {', '.join(unmapped)}"


def test_the_readme_is_a_front_door_not_a_manual() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"
