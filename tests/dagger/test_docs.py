"""docs/dagger.md documents each function with the text the SDK registers."""

from __future__ import annotations

from pathlib import Path

import clarity
import pytest
from clarity._reference import BEGIN, END, cli_name, render, replace_block, type_name
from dagger.mod import default_module

pytestmark = pytest.mark.dagger

DOC = Path(__file__).resolve().parents[2] / "docs" / "dagger.md"


def test_the_function_reference_is_current() -> None:
    block = render(default_module(), clarity.Clarity.__name__)
    document = DOC.read_text()
    assert replace_block(document, block) == document, (
        "docs/dagger.md is stale: run `uv run python -m clarity._reference --write docs/dagger.md`"
    )


def test_every_function_and_argument_doc_appears_verbatim() -> None:
    document = DOC.read_text()
    obj = default_module().get_object("Clarity")
    for name, fn in obj.functions.items():
        if name:
            assert f"### `{cli_name(name)}`" in document
        assert fn.doc is not None
        if name:
            assert fn.doc in document
        for param in fn.parameters.values():
            assert f"`--{cli_name(param.name)}`" in document
            assert str(param.doc) in document


def test_replace_block_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="no generated block"):
        replace_block("# title\n", "x")
    assert replace_block(f"a\n{BEGIN}\nold\n{END}\nb", "NEW") == "a\nNEW\nb"


def test_type_names() -> None:
    assert type_name(str | None) == "String"
    assert type_name(list[str]) == "[String]"
    assert type_name(None) == "Void"
    assert type_name(bool) == "Boolean"
    assert type_name(int) == "Integer"
