"""Read the runbooks: fenced blocks, the commands in them, test marks and placeholders.

A runbook marks a block it promises to be executable with an HTML comment on the line
before the fence, e.g. `<!-- runbook-test: rollback -->`; the tests run those blocks.
Placeholders are written `<UPPER_SNAKE>` and documented in runbooks/README.md, with an
example value each; anything else that looks like a placeholder is a mistake.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SHELL_LANGUAGES = ("bash", "sh", "console")

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
# Other spellings a writer might reach for; none of them is the documented syntax.
SUSPECT_PLACEHOLDERS = (
    re.compile(r"<[^<>\s!]*[a-z][^<>\s]*>"),  # <stack>, <Stack-Name>
    re.compile(r"\{\{[^}]*\}\}"),  # {{stack}}
    re.compile(r"\$\{[^}]*\}"),  # ${STACK}
    re.compile(r"\b(?:YOUR|your|Your)[_-][A-Za-z_-]+"),  # YOUR_STACK, your-zone
    re.compile(r"\b(?:CHANGE_?ME|changeme|TODO|FIXME)\b"),
    re.compile(r"\b[xX]{3,}\b"),
    re.compile(r"\b__[A-Z_]+__\b"),
    re.compile(r"\.\.\."),  # an elided argument
)
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*runbook-test:\s*([a-z0-9-]+)\s*-->\s*$")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
SEPARATORS = {"|", "||", "&&", ";", "&"}


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # line of the opening fence, 1-based
    language: str
    text: str
    mark: str | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def runbook_files(directory: Path = RUNBOOKS) -> list[Path]:
    return sorted(directory.glob("*.md"))


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a markdown file, with the test mark right above it (if any)."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(previous.strip())
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{path.name}:{i + 1}: fenced block never closed")
        found.append(Block(path.name, i + 1, opening.group(1).lower(), "\n".join(lines[i + 1:end]),
                           mark.group(1) if mark else None))
        i = end + 1
    return found


def shell_blocks(paths: list[Path] | None = None) -> list[Block]:
    return [b for p in (paths or runbook_files()) for b in blocks(p) if b.language in SHELL_LANGUAGES]


def command_lines(block: Block) -> list[str]:
    """The commands of a block as a person types them: continuations joined, comments and
    (in `console` blocks) output lines dropped."""
    commands, current = [], ""
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if block.language == "console" and not current:
            if not line.startswith("$ "):
                continue  # output shown for comparison
            line = line[2:]
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        commands.append((current + line.strip()).strip())
        current = ""
    if current:
        commands.append(current.strip())
    return commands


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def suspect_placeholders(text: str) -> list[str]:
    """Tokens that look like placeholders but are not written `<UPPER_SNAKE>`."""
    return [m.group(0) for pattern in SUSPECT_PLACEHOLDERS for m in pattern.finditer(text)]


def fill(text: str, values: dict[str, str]) -> str:
    """Replace every documented placeholder; an unfilled one is an error."""
    missing = placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no value for {', '.join(sorted(missing))} in: {text}")
    return PLACEHOLDER.sub(lambda m: values[m.group(0)], text)


def simple_commands(line: str) -> list[list[str]]:
    """The argument lists of one (filled) command line: pipelines, `&&` chains and `$(...)`
    substitutions split into the commands they run; redirections dropped."""
    inner: list[list[str]] = []
    while (found := SUBSTITUTION.search(line)) is not None:
        inner += simple_commands(found.group(1))
        line = line[:found.start()] + "SUBSTITUTED" + line[found.end():]
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    commands, current, skip_next = [], [], False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token in SEPARATORS:
            if current:
                commands.append(current)
            current = []
        elif set(token) <= set("<>"):
            skip_next = True  # a redirection: its target is a file, not an argument
        else:
            current.append(token)
    if current:
        commands.append(current)
    return inner + [_without_assignments(c) for c in commands]


def _without_assignments(argv: list[str]) -> list[str]:
    """`NAME=value cmd ...` runs cmd: leading assignments are environment, not the program."""
    i = 0
    while i < len(argv) - 1 and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[i]):
        i += 1
    return argv[i:]


def readme_placeholders(readme: Path = RUNBOOKS / "README.md") -> dict[str, str]:
    """The placeholder table of the README: `<NAME>` -> its example value."""
    table: dict[str, str] = {}
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and PLACEHOLDER.fullmatch(cells[0].strip("`")):
            table[cells[0].strip("`")] = cells[-1].strip("`")
    return table


def marked_commands(label: str, paths: list[Path] | None = None) -> list[str]:
    """The commands of every block marked `<!-- runbook-test: LABEL -->`, in page order."""
    return [c for b in shell_blocks(paths) if b.mark == label for c in command_lines(b)]
