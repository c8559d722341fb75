"""README.rst and docs/*.rst stay true: their examples and commands run as written.

The documents are ``README.rst`` and every ``docs/*.rst``. Each renders with
docutils without a warning, the README stays short (``README_MAX_LINES``), and
every relative ``.rst`` link points at a file that exists.

Python blocks (``.. code-block:: python``) run in document order, each as a script
in a fresh interpreter with a temporary working directory. A block that names
``HYDRACACHE_REDIS_URL`` or ``HYDRACACHE_POSTGRES_DSN`` gets the fixtures'
servers through those variables, plus its own Redis key prefix
(``HYDRACACHE_PREFIX``) and its own Postgres schema holding the shipped
migration (``HYDRACACHE_POSTGRES_SCHEMA``), both removed afterwards; an
unreachable server skips it, or fails it with ``HYDRACACHE_REQUIRE_SERVICES=1``
(``tests/conftest.py``). Every other block runs with none of those variables.

A block preceded by the RST comment ``.. not-tested: <reason>`` is not run (at
most ``MAX_NOT_TESTED`` of them). ``::`` literal blocks are text, never run.

Console blocks (``.. code-block:: console``): every ``hydracache`` or ``python
-m hydracache_sync`` command runs (the part before a ``|``). ``demo``,
``schema`` and ``--help`` need no server; ``stats``, ``invalidate-tag``,
``invalidate``, ``delete`` and ``cleanup`` run against the fixtures' servers;
``bench`` is too slow here (tests/test_cli.py covers its options).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.rst"))]
README_MAX_LINES = 500
MAX_NOT_TESTED = 3
SERVER_ENV = (
    "HYDRACACHE_REDIS_URL",
    "HYDRACACHE_PREFIX",
    "HYDRACACHE_POSTGRES_DSN",
    "HYDRACACHE_POSTGRES_SCHEMA",
    "HYDRACACHE_POSTGRES_TABLE",
)
# Optional packages a block may need, found by what the block names.
DEPENDENCIES = {
    "redis": ("RedisStore", "HYDRACACHE_REDIS_URL"),
    "psycopg2": ("PostgresStore", "HYDRACACHE_POSTGRES_DSN"),
    "flask": ("flask",),
    "prometheus_client": ("prometheus_client", "hydracache_sync.metrics"),
    "dogpile": ("dogpile",),
}
SERVER_FREE_COMMANDS = frozenset({"demo", "schema"})
SERVER_COMMANDS = frozenset(
    {"stats", "invalidate-tag", "invalidate", "delete", "cleanup"}
)
SLOW_COMMANDS = frozenset({"bench"})

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. code-block::\s*(?P<lang>\S+)\s*$")
_NOT_TESTED = re.compile(r"^\s*\.\. not-tested:\s*(?P<reason>\S.*)$")
_RST_LINK = re.compile(r"<(?P<target>[^<>\s]+\.rst)>`__?")


@dataclass(frozen=True)
class Block:
    """One code block of a document."""

    source: str  # the document's path relative to the repository root
    language: str
    line: int  # 1-based line of the directive
    code: str
    not_tested: str | None  # the reason, when marked ``.. not-tested:``


def _dedent(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    margin = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[margin:] for line in lines) + "\n"


def parse_blocks(text: str, source: str = "README.rst") -> list[Block]:
    """Return the document's ``code-block`` directives with their content."""
    lines = text.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        body: list[str] = []
        for following in lines[index + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        before = index - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker = _NOT_TESTED.match(lines[before]) if before >= 0 else None
        blocks.append(
            Block(
                source=source,
                language=match["lang"],
                line=index + 1,
                code=_dedent(body),
                not_tested=marker["reason"] if marker else None,
            )
        )
    return blocks


def relative(path: Path) -> str:
    """Return ``path`` relative to the repository root, with ``/``."""
    return path.relative_to(ROOT).as_posix()


BLOCKS = [
    block
    for document in DOCUMENTS
    for block in parse_blocks(document.read_text(encoding="utf-8"), relative(document))
]
PYTHON = [block for block in BLOCKS if block.language == "python"]
CONSOLE = [block for block in BLOCKS if block.language == "console"]


def commands(blocks: list[Block]) -> list[str]:
    """Return the commands of console blocks (the text after ``$ ``)."""
    return [
        line[2:].strip()
        for block in blocks
        for line in block.code.splitlines()
        if line.startswith("$ ")
    ]


def cli_arguments(command: str) -> list[str] | None:
    """Return the arguments of a ``hydracache`` command, else ``None``."""
    argv = shlex.split(command.split(" | ", 1)[0], comments=True)
    if argv[:3] == ["python", "-m", "hydracache_sync"]:
        return argv[3:]
    if argv[:1] == ["hydracache"]:
        return argv[1:]
    return None


def subcommand(arguments: list[str]) -> str | None:
    """Return the command name (``stats``), ``None`` for top-level options."""
    return next((arg for arg in arguments if not arg.startswith("-")), None)


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without server settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"
    env.update(extra)
    return env


def hydracache_program() -> list[str]:
    """Return the console script next to this interpreter, or ``-m``."""
    script = Path(sys.executable).with_name("hydracache")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "hydracache_sync"]


def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``argv``; assert exit status 0; return stdout."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert 0 == result.returncode, (
        f"{shlex.join(argv)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    )
    return result.stdout


def server_env(request: pytest.FixtureRequest, code: str) -> dict[str, str]:
    """Return the server variables ``code`` needs, from isolated fixtures."""
    env: dict[str, str] = {}
    if "HYDRACACHE_REDIS_URL" in code:
        env["HYDRACACHE_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["HYDRACACHE_PREFIX"] = request.getfixturevalue("redis_prefix")
    if "HYDRACACHE_POSTGRES_DSN" in code:
        env["HYDRACACHE_POSTGRES_DSN"] = request.getfixturevalue("postgres_dsn")
        env["HYDRACACHE_POSTGRES_SCHEMA"] = request.getfixturevalue("postgres_schema")
    return env


class TestDocumentStructure:
    """The documents hold what the other tests run."""

    def test_python_blocks_compile(self) -> None:
        """Every Python block is valid Python, tested or not."""
        assert len(PYTHON) >= 20
        for block in PYTHON:
            compile(block.code, f"{block.source}:{block.line}", "exec")

    def test_few_blocks_are_not_tested(self) -> None:
        """At most a few blocks opt out, each with a reason."""
        skipped = [block for block in BLOCKS if block.not_tested is not None]
        assert len(skipped) <= MAX_NOT_TESTED, [
            f"{block.source}:{block.line}" for block in skipped
        ]

    def test_setup_commands_are_listed(self) -> None:
        """The two set-up commands appear exactly as the README promises."""
        listed = commands(CONSOLE)
        assert "python -m hydracache_sync demo" in listed
        assert "python -m pytest" in listed

    def test_every_cli_command_is_classified(self) -> None:
        """Each documented CLI command is run by a test below (or known slow)."""
        known = SERVER_FREE_COMMANDS | SERVER_COMMANDS | SLOW_COMMANDS
        names = set()
        for command in commands(CONSOLE):
            arguments = cli_arguments(command)
            if arguments is not None:
                names.add(subcommand(arguments))
        assert set() == names - known - {None}
        assert SERVER_FREE_COMMANDS | SERVER_COMMANDS <= names

    def test_readme_is_short(self) -> None:
        """The README is read in ten minutes; the depth lives in docs/."""
        lines = README.read_text(encoding="utf-8").count("\n")
        assert lines <= README_MAX_LINES, f"README.rst has {lines} lines"

    def test_every_page_is_linked(self) -> None:
        """docs/index.rst links every page, and the README links the index."""
        linked = {
            match["target"]
            for match in _RST_LINK.finditer(
                (ROOT / "docs" / "index.rst").read_text(encoding="utf-8")
            )
        }
        pages = {path.name for path in DOCUMENTS if path.parent.name == "docs"}
        assert set() == pages - linked - {"index.rst"}
        assert "docs/index.rst" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("document", DOCUMENTS, ids=relative)
def test_rst_is_valid(document: Path) -> None:
    """docutils parses the document without a warning (PyPI renders the README)."""
    core = pytest.importorskip("docutils.core")
    core.publish_doctree(
        document.read_text(encoding="utf-8"),
        source_path=str(document),
        settings_overrides={"halt_level": 2, "report_level": 2},
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=relative)
def test_rst_links_resolve(document: Path) -> None:
    """Every relative ``.rst`` link points at a file that exists."""
    targets = [
        match["target"]
        for match in _RST_LINK.finditer(document.read_text(encoding="utf-8"))
        if "://" not in match["target"]
    ]
    missing = [t for t in targets if not (document.parent / t).is_file()]
    assert [] == missing


@pytest.mark.parametrize("block", PYTHON, ids=[f"{b.source}:{b.line}" for b in PYTHON])
def test_python_block(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The example runs as a script and its asserts hold."""
    if block.not_tested is not None:
        pytest.skip(f"marked not-tested: {block.not_tested}")
    for module, names in DEPENDENCIES.items():
        if any(name in block.code for name in names):
            pytest.importorskip(module)
    env = clean_env(**server_env(request, block.code))
    script = tmp_path / f"{Path(block.source).stem}_line{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    run([sys.executable, "-W", "error", str(script)], env, tmp_path)


def test_server_free_commands(tmp_path: Path) -> None:
    """``demo``, ``schema`` and ``--help`` commands exit 0 without a server."""
    ran = set()
    for command in commands(CONSOLE):
        arguments = cli_arguments(command)
        if arguments is None:
            continue
        name = subcommand(arguments)
        if name not in SERVER_FREE_COMMANDS and "--help" not in arguments:
            continue
        program = (
            [sys.executable, "-m", "hydracache_sync"]
            if command.startswith("python ")
            else hydracache_program()
        )
        out = run([*program, *arguments], clean_env(), tmp_path)
        if name == "schema":
            assert "CREATE TABLE IF NOT EXISTS" in out
        ran.add(name)
    assert SERVER_FREE_COMMANDS <= ran


@pytest.mark.redis
@pytest.mark.postgres
def test_server_commands(
    redis_url: str,
    redis_prefix: str,
    postgres_dsn: str,
    postgres_schema: str,
    tmp_path: Path,
) -> None:
    """``stats``, ``invalidate-tag``, ... exit 0 against both servers."""
    env = clean_env(
        HYDRACACHE_REDIS_URL=redis_url,
        HYDRACACHE_PREFIX=redis_prefix,
        HYDRACACHE_POSTGRES_DSN=postgres_dsn,
        HYDRACACHE_POSTGRES_SCHEMA=postgres_schema,
    )
    ran = set()
    for command in commands(CONSOLE):
        arguments = cli_arguments(command)
        if arguments is None or subcommand(arguments) not in SERVER_COMMANDS:
            continue
        run([*hydracache_program(), *arguments], env, tmp_path)
        ran.add(subcommand(arguments))
    assert SERVER_COMMANDS == ran
