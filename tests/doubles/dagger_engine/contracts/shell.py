"""sh -c COMMAND: the POSIX subset the images' commands and build steps use.

A ``CMD ["sh", "-c", "exec uvicorn ..."]`` and a Dockerfile's shell-form ``RUN`` or ``CMD``
run through this contract, in images whose manifest has a shell (``/bin/sh`` among its
binaries; distroless images, the services' base among them, have none, and the exec fails as
it would, with 127).

Modelled: simple commands with ``NAME=value`` prefixes; ``&&``, ``||``, ``;`` and newlines;
``if ... then ... [elif/else] ... fi``; the builtins ``exec``, ``export``, ``cd``, ``true``,
``false``, ``:``, ``echo``, ``exit``, ``set`` (options ignored), ``[``/``test`` with the unary
file and string tests and ``=``/``!=``. Each other command is looked up on PATH and run
through its own contract. A server a command starts (``exec uvicorn ...``, or a server
that never returns) ends the script there: the shell waits on it for as long as it runs.
Pipes, redirections, subshells, background jobs and loops are not modelled: a script that
uses them fails loudly with what to add.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from graphql import GraphQLError

from tests.doubles.dagger_engine._words import (
    NotModelled,
    ShellSyntaxError,
    Word,
    expand,
    lex,
)
from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail

__all__ = ["CONTRACTS"]

_KEYWORDS: Final = frozenset({"if", "then", "elif", "else", "fi"})
_SEPARATORS: Final = frozenset({";", "&&", "||"})


@dataclass(frozen=True)
class _Simple:
    words: tuple[Word, ...]


@dataclass(frozen=True)
class _If:
    branches: tuple[tuple[_List, _List], ...]
    orelse: _List | None


@dataclass(frozen=True)
class _AndOr:
    first: _Simple | _If
    rest: tuple[tuple[str, _Simple | _If], ...]


_List = tuple[_AndOr, ...]


class _Parser:
    """Recursive descent over the tokens of one script."""

    def __init__(self, tokens: list[Word | str]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek_keyword(self) -> str | None:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        return token.literal if isinstance(token, Word) and token.literal in _KEYWORDS else None

    def expect(self, keyword: str) -> None:
        if self.peek_keyword() != keyword:
            found = "end of file" if self.i >= len(self.tokens) else repr(self.tokens[self.i])
            msg = f'Syntax error: {found} unexpected (expecting "{keyword}")'
            raise ShellSyntaxError(msg)
        self.i += 1

    def parse_list(self, terminators: frozenset[str]) -> _List:
        items: list[_AndOr] = []
        while self.i < len(self.tokens):
            if self.tokens[self.i] == ";":
                self.i += 1
                continue
            if self.peek_keyword() in terminators:
                break
            items.append(self.parse_and_or())
        return tuple(items)

    def parse_and_or(self) -> _AndOr:
        first = self.parse_command()
        rest: list[tuple[str, _Simple | _If]] = []
        while self.i < len(self.tokens) and self.tokens[self.i] in ("&&", "||"):
            operator = str(self.tokens[self.i])
            self.i += 1
            while self.i < len(self.tokens) and self.tokens[self.i] == ";":
                self.i += 1  # a newline may follow the operator
            rest.append((operator, self.parse_command()))
        return _AndOr(first, tuple(rest))

    def parse_command(self) -> _Simple | _If:
        if self.peek_keyword() == "if":
            self.i += 1
            return self.parse_if()
        words: list[Word] = []
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if isinstance(token, str):
                if token in _SEPARATORS:
                    break
                msg = f"the operator {token!r} (pipes, redirections, subshells, jobs)"
                raise NotModelled(msg)
            if not words and token.literal in _KEYWORDS:
                msg = f'Syntax error: "{token.literal}" unexpected'
                raise ShellSyntaxError(msg)
            words.append(token)
            self.i += 1
        if not words:
            msg = "Syntax error: end of file unexpected"
            raise ShellSyntaxError(msg)
        return _Simple(tuple(words))

    def parse_if(self) -> _If:
        branches: list[tuple[_List, _List]] = []
        condition = self.parse_list(frozenset({"then"}))
        self.expect("then")
        body = self.parse_list(frozenset({"elif", "else", "fi"}))
        branches.append((condition, body))
        orelse: _List | None = None
        while self.peek_keyword() == "elif":
            self.i += 1
            condition = self.parse_list(frozenset({"then"}))
            self.expect("then")
            branches.append((condition, self.parse_list(frozenset({"elif", "else", "fi"}))))
        if self.peek_keyword() == "else":
            self.i += 1
            orelse = self.parse_list(frozenset({"fi"}))
        self.expect("fi")
        return _If(tuple(branches), orelse)


class _Stop(Exception):
    """The script ends here: ``exec``, ``exit``, or a server that keeps running."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.exit_code)
        self.outcome = outcome


@dataclass
class _Shell:
    ex: Exec
    env: dict[str, str]
    cwd: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def run_list(self, items: _List) -> int:
        status = 0
        for item in items:
            status = self.run_and_or(item)
        return status

    def run_and_or(self, item: _AndOr) -> int:
        status = self.run_command(item.first)
        for operator, command in item.rest:
            if (operator == "&&") == (status == 0):
                status = self.run_command(command)
        return status

    def run_command(self, command: _Simple | _If) -> int:
        if isinstance(command, _If):
            for condition, body in command.branches:
                if self.run_list(condition) == 0:
                    return self.run_list(body)
            return self.run_list(command.orelse) if command.orelse is not None else 0
        values = [expand(word, self.env) for word in command.words]
        assignments: dict[str, str] = {}
        while values and "=" in values[0] and values[0].split("=", 1)[0].isidentifier():
            name, _, value = values.pop(0).partition("=")
            assignments[name] = value
        if not values:
            self.env.update(assignments)
            return 0
        return self.run_simple(values, {**self.env, **assignments})

    def run_simple(self, argv: list[str], env: dict[str, str]) -> int:
        name, args = argv[0], argv[1:]
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return builtin(self, args)
        outcome = self.external(argv, env)
        if outcome.listening:
            raise _Stop(self._joined(outcome))
        self.stdout.append(outcome.stdout)
        self.stderr.append(outcome.stderr)
        return outcome.exit_code

    def external(self, argv: list[str], env: dict[str, str]) -> Outcome:
        from tests.doubles.dagger_engine.contracts import contract_for  # noqa: PLC0415 - cycle

        program = self.ex.fs.which(argv[0], env.get("PATH", ""))
        if program is None:
            return Outcome(exit_code=127, stderr=f"sh: 1: {argv[0]}: not found\n")
        sub = self.ex.with_argv(tuple(argv), program=program, env=env, cwd=self.cwd)
        try:
            return contract_for(posixpath.basename(program))(sub)
        except ExecFsError as exc:
            return Outcome(exit_code=1, stderr=f"{exc}\n")

    def _joined(self, outcome: Outcome) -> Outcome:
        return Outcome(
            exit_code=outcome.exit_code,
            stdout="".join(self.stdout) + outcome.stdout,
            stderr="".join(self.stderr) + outcome.stderr,
            listening=outcome.listening,
        )


def _exec(shell: _Shell, args: list[str]) -> int:
    if not args:
        return 0
    raise _Stop(shell._joined(shell.external(args, dict(shell.env))))


def _export(shell: _Shell, args: list[str]) -> int:
    for arg in args:
        name, equals, value = arg.partition("=")
        if equals:
            shell.env[name] = value
    return 0


def _cd(shell: _Shell, args: list[str]) -> int:
    target = posixpath.normpath(posixpath.join(shell.cwd, args[0] if args else shell.ex.home()))
    if not shell.ex.fs.is_dir(target):
        shell.stderr.append(f"sh: 1: cd: can't cd to {args[0] if args else target}\n")
        return 2
    shell.cwd = target
    return 0


def _echo(shell: _Shell, args: list[str]) -> int:
    shell.stdout.append(" ".join(args) + "\n")
    return 0


def _exit(shell: _Shell, args: list[str]) -> int:
    code = int(args[0]) if args and args[0].isdigit() else 0
    raise _Stop(shell._joined(Outcome(exit_code=code)))


def _test(shell: _Shell, args: list[str]) -> int:
    if args and args[-1] == "]":
        args = args[:-1]
    fs = shell.ex.fs

    def path(operand: str) -> str:
        return posixpath.join(shell.cwd, operand)

    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-n", "-z"):
        operator, operand = args
        entry = fs.entry(path(operand)) if operator in ("-e", "-f", "-d", "-s") else None
        verdicts = {
            "-e": entry is not None,
            "-f": fs.is_file(path(operand)),
            "-d": fs.is_dir(path(operand)),
            "-s": fs.is_file(path(operand)) and bool(getattr(entry, "content", b"")),
            "-n": bool(operand),
            "-z": not operand,
        }
        return 0 if verdicts[operator] else 1
    if len(args) == 3 and args[1] in ("=", "!="):
        return 0 if (args[0] == args[2]) == (args[1] == "=") else 1
    if len(args) == 1:
        return 0 if args[0] else 1
    msg = f"test {' '.join(args)}"
    raise NotModelled(msg)


_BUILTINS: Final[dict[str, Callable[[_Shell, list[str]], int]]] = {
    "exec": _exec,
    "export": _export,
    "cd": _cd,
    "echo": _echo,
    "exit": _exit,
    "true": lambda _shell, _args: 0,
    ":": lambda _shell, _args: 0,
    "false": lambda _shell, _args: 1,
    "set": lambda _shell, _args: 0,
    "[": _test,
    "test": _test,
}


def sh(ex: Exec) -> Outcome:
    """sh [-eux...] -c SCRIPT: run the script's commands through their contracts."""
    args = list(ex.args)
    while args and args[0].startswith("-") and args[0] != "-c":
        args.pop(0)
    if args[:1] != ["-c"] or len(args) < 2:
        msg = f"the engine double's sh runs `sh -c SCRIPT` only, not {' '.join(ex.argv)!r}"
        raise GraphQLError(msg)
    script = args[1]
    try:
        tree = _Parser(lex(script)).parse_list(frozenset())
        shell = _Shell(ex=ex, env=dict(ex.env), cwd=ex.cwd)
        try:
            status = shell.run_list(tree)
        except _Stop as stop:
            return stop.outcome
    except ShellSyntaxError as exc:
        return fail(f"sh: 1: {exc}", 2)
    except NotModelled as exc:
        msg = (
            f"the engine double's sh does not model {exc} in {script!r}: "
            "extend tests/doubles/dagger_engine/contracts/shell.py"
        )
        raise GraphQLError(msg) from None
    return Outcome(exit_code=status, stdout="".join(shell.stdout), stderr="".join(shell.stderr))


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"sh": sh, "dash": sh, "bash": sh}
