"""Shell words: quoting and parameter expansion, as ``sh`` and the Dockerfile frontend apply them.

Both the ``sh`` contract and the Dockerfile model read text the way a POSIX shell does:
single quotes keep everything, double quotes keep all but ``$`` (and ``\\`` before ``$ " \\``),
a backslash outside quotes keeps the next character, and ``$NAME``, ``${NAME}``,
``${NAME:-word}``, ``${NAME-word}``, ``${NAME:+word}`` and ``${NAME+word}`` expand from the
environment at the moment the word is used. Words are lexed once into parts and expanded
later, so ``export`` in a shell changes what the next command sees.

What is not modelled raises :class:`NotModelled` (command substitution, arithmetic, the
special parameters): a command that needs it fails loudly instead of running wrongly.
Field splitting and pathname expansion of unquoted results are not performed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["NotModelled", "Param", "ShellSyntaxError", "Word", "expand", "lex", "words"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM_OPS = (":-", ":+", "-", "+")
#: Operators a shell command line may contain, longest first.
_OPERATORS = ("&&", "||", ";;", ">>", "<<", ">&", "<&", ";", "&", "|", ">", "<", "(", ")")


class ShellSyntaxError(Exception):
    """The text is not valid shell syntax (the message is dash's)."""


class NotModelled(Exception):
    """The text uses shell syntax the double does not model."""


@dataclass(frozen=True)
class Param:
    """``${name<op>word}``: a parameter expansion."""

    name: str
    op: str = ""
    word: tuple[str | Param, ...] = ()


@dataclass(frozen=True)
class Word:
    """One word: literal text and parameters, quotes already removed."""

    parts: tuple[str | Param, ...]
    quoted: bool
    """True if any part of it was quoted or escaped (then it is never a keyword)."""

    @property
    def literal(self) -> str | None:
        """The word's text if it has no parameters and no quoting (a keyword candidate)."""
        if self.quoted or any(isinstance(p, Param) for p in self.parts):
            return None
        return "".join(p for p in self.parts if isinstance(p, str))


def _param(text: str, i: int) -> tuple[Param | str, int]:
    """The parameter at ``text[i] == '$'``; the index after it."""
    nxt = text[i + 1 : i + 2]
    if nxt == "{":
        end = text.find("}", i)
        if end < 0:
            msg = "Syntax error: Missing '}'"
            raise ShellSyntaxError(msg)
        body = text[i + 2 : end]
        name = _NAME.match(body)
        if name is None:
            msg = f"${{{body}}}: parameter forms other than ${{NAME}}"
            raise NotModelled(msg)
        rest = body[name.end() :]
        if not rest:
            return Param(name.group()), end + 1
        op = next((o for o in _PARAM_OPS if rest.startswith(o)), None)
        if op is None:
            msg = f"${{{body}}}: the expansion operator {rest[:2]!r}"
            raise NotModelled(msg)
        word = _parts(rest[len(op) :])[0]
        return Param(name.group(), op, word), end + 1
    name = _NAME.match(text, i + 1)
    if name is not None:
        return Param(name.group()), name.end()
    if nxt in ("(", "`") or (nxt and nxt in "?@*#$!0123456789-"):
        msg = f"${nxt}: command substitution and special parameters"
        raise NotModelled(msg)
    return "$", i + 1


def _parts(
    text: str, *, start: int = 0, stop: str = ""
) -> tuple[tuple[str | Param, ...], bool, int]:
    """Parts of one word from ``start`` until an unquoted character in ``stop``.

    Returns the parts, whether anything was quoted, and the index where the word ended.
    """
    parts: list[str | Param] = []
    quoted = False
    i = start
    buffer = ""
    while i < len(text):
        char = text[i]
        if char in stop:
            break
        if char == "`":
            msg = "`...`: command substitution"
            raise NotModelled(msg)
        if char == "\\" and i + 1 < len(text):
            buffer += text[i + 1]
            quoted, i = True, i + 2
            continue
        if char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                msg = "Syntax error: Unterminated quoted string"
                raise ShellSyntaxError(msg)
            buffer += text[i + 1 : end]
            quoted, i = True, end + 1
            continue
        if char == '"':
            inner, _, end = _double_quoted(text, i + 1)
            if buffer:
                parts.append(buffer)
                buffer = ""
            parts.extend(inner)
            quoted, i = True, end
            continue
        if char == "$":
            param, i = _param(text, i)
            if isinstance(param, str):
                buffer += param
                continue
            if buffer:
                parts.append(buffer)
                buffer = ""
            parts.append(param)
            continue
        buffer += char
        i += 1
    if buffer:
        parts.append(buffer)
    return tuple(parts), quoted, i


def _double_quoted(text: str, start: int) -> tuple[tuple[str | Param, ...], bool, int]:
    """The parts inside ``"..."`` starting after the opening quote; index after the closing one."""
    parts: list[str | Param] = []
    buffer = ""
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            if buffer:
                parts.append(buffer)
            return tuple(parts), True, i + 1
        if char == "\\" and text[i + 1 : i + 2] in ('"', "\\", "$", "`", "\n"):
            buffer += text[i + 1]
            i += 2
            continue
        if char == "`":
            msg = "`...`: command substitution"
            raise NotModelled(msg)
        if char == "$":
            param, i = _param(text, i)
            if isinstance(param, str):
                buffer += param
                continue
            if buffer:
                parts.append(buffer)
                buffer = ""
            parts.append(param)
            continue
        buffer += char
        i += 1
    msg = "Syntax error: Unterminated quoted string"
    raise ShellSyntaxError(msg)


def lex(text: str, *, operators: bool = True) -> list[Word | str]:
    """Words and (with ``operators``) operator tokens; a newline is ``;``; ``#`` comments."""
    tokens: list[Word | str] = []
    stop = " \t\n" + ("&|;<>()" if operators else "")
    i = 0
    while i < len(text):
        char = text[i]
        if char in " \t" or (char == "\n" and not operators):
            i += 1
            continue
        if char == "\n":
            tokens.append(";")
            i += 1
            continue
        if operators and char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
        if operators and operator is not None:
            tokens.append(operator)
            i += len(operator)
            continue
        parts, quoted, i = _parts(text, start=i, stop=stop)
        tokens.append(Word(parts, quoted))
    return tokens


def _value(param: Param, env: Mapping[str, str]) -> str:
    value = env.get(param.name)
    if param.op == ":-":
        return value if value else _join(param.word, env)
    if param.op == "-":
        return value if value is not None else _join(param.word, env)
    if param.op == ":+":
        return _join(param.word, env) if value else ""
    if param.op == "+":
        return _join(param.word, env) if value is not None else ""
    return value or ""


def _join(parts: tuple[str | Param, ...], env: Mapping[str, str]) -> str:
    return "".join(p if isinstance(p, str) else _value(p, env) for p in parts)


def expand(word: Word, env: Mapping[str, str]) -> str:
    """The word's text with its parameters expanded from ``env``."""
    return _join(word.parts, env)


def words(text: str, env: Mapping[str, str]) -> list[str]:
    """``text`` split into words and expanded (no operators: Dockerfile arguments)."""
    return [expand(token, env) for token in lex(text, operators=False) if isinstance(token, Word)]
