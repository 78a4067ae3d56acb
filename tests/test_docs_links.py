"""Every relative link in README.md and docs/*.md leads somewhere: a file that exists and, for
``path#anchor`` or ``#anchor`` into Markdown, a heading with that GitHub-style slug."""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target); the text may hold one level of brackets; the target is
# <anything> or has no spaces, and may be followed by a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
HTML_ANCHOR = re.compile(r"<[a-zA-Z][^>]*\s(?:id|name)=[\"']([^\"']+)[\"']")
EXTERNAL = ("http://", "https://", "mailto:")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose_lines(text: str, blank_code: bool = True) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked out unless told not to."""
    lines, fence = [], None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = None
        else:
            lines.append(INLINE_CODE.sub(lambda code: " " * len(code.group(0)), line) if blank_code else line)
    return lines


def links(text: str) -> list[str]:
    """The targets of the inline links, images and reference definitions in Markdown ``text``."""
    prose = "\n".join(prose_lines(text))
    found = [match.group(1) for match in INLINE_LINK.finditer(prose)]
    found += [match.group(1) for match in REFERENCE_DEFINITION.finditer(prose)]
    return [target[1:-1] if target.startswith("<") else target for target in found]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation but - and _ removed,
    each space turned into -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (repeats get -1, -2, …, as on
    GitHub) and the id or name of any HTML tag in it."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(text, blank_code=False):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    found.update(HTML_ANCHOR.findall(text))
    return found


def broken_links(files: list[Path]) -> list[str]:
    """One line per relative link in ``files`` that leads nowhere: ``file: target (why)``."""
    problems = []
    for source in files:
        for target in links(source.read_text(encoding="utf-8")):
            if target.lower().startswith(EXTERNAL):
                continue
            path_part, _, anchor = target.partition("#")
            destination = (source.parent / unquote(path_part)).resolve() if path_part else source
            where = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source.name
            if not destination.exists():
                problems.append(f"{where}: {target} (no such file: {destination})")
            elif anchor and destination.suffix.lower() == ".md" and destination.is_file():
                if unquote(anchor).lower() not in anchors(destination.read_text(encoding="utf-8")):
                    problems.append(f"{where}: {target} (no heading #{anchor} in {destination.name})")
    return problems


def test_the_front_page_and_the_docs_are_there():
    files = documents()
    assert files[0].is_file()
    assert len(files) > 1, "docs/*.md holds the details the README links to"


def test_every_relative_link_in_readme_and_docs_resolves():
    problems = broken_links(documents())
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Two commands", "two-commands"),
        ("Training: `make bench`", "training-make-bench"),
        ("The paper's table, corrected", "the-papers-table-corrected"),
        ("W&B", "wb"),
        ("What `results.json` records", "what-resultsjson-records"),
        ("Runs, checkpoints, exports and reproducibility", "runs-checkpoints-exports-and-reproducibility"),
        ("snake_case and -dashes-", "snake_case-and--dashes-"),
        ("See [the docs](docs/x.md) now", "see-the-docs-now"),
    ],
)
def test_slugs_are_githubs(heading, expected):
    assert slug(heading) == expected


def test_the_checker_finds_broken_links_and_anchors(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "serve.png").write_bytes(b"")
    page = "# A page\n\n## Repeated\n\n## Repeated\n\n## With `code`\n"
    (tmp_path / "docs" / "a.md").write_text(page, encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text(
        "\n".join(
            [
                "# Title",
                "![picture](docs/serve.png) [a](docs/a.md) [b](docs/a.md#a-page) [c](docs/a.md#repeated-1)",
                "[self](#title) [web](https://example.org/x) [mail](mailto:a@example.org) [d](docs/a.md#with-code)",
                "`[not a link](missing-in-code.md)`",
                "```",
                "[not a link either](missing-in-fence.md)",
                "```",
                "[gone](docs/missing.md) ![gone too](docs/missing.png) [no heading](docs/a.md#nowhere)",
                "[no heading here](#nowhere-here) [third repeat](docs/a.md#repeated-2)",
            ]
        ),
        encoding="utf-8",
    )
    problems = broken_links([readme, tmp_path / "docs" / "a.md"])
    assert [problem.split(" ")[1] for problem in problems] == [
        "docs/missing.md",
        "docs/missing.png",
        "docs/a.md#nowhere",
        "#nowhere-here",
        "docs/a.md#repeated-2",
    ]
