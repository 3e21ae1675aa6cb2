"""Chinese text uses full-width punctuation (GB/T 15834; issue 10): ，：；？！（） rather than
,:;?!() between Chinese characters, in every template and in the messages of forms, views and wizards and the SMS of services.

Not Chinese text, so left alone: code, addresses, numbers, Latin words and what a visitor
types as it is (the CSV header of a departure file), and the contract `错误:` that starts an
error page's title (SPEC 4.4).
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import epermit

SITE = Path(epermit.__file__).parent
# A Chinese character, or full-width punctuation and quotation marks (。，“” …).
CJK = r"[\u3400-\u9fff\u3001-\u303f\uff01-\uffee“”‘’]"
HALF_WIDTH = re.compile(rf"{CJK}[,:;?!()]|[,:;?!()]{CJK}")
# What may stay: the error title's contract, and the CSV header a visitor's file must have.
ALLOWED = ("错误:", "公民身份号码,姓名,离开日期")
JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
STRING = re.compile(r'"([^"\n]*)"|\'([^\'\n]*)\'')
TAG = re.compile(r"<[^>]*>")


def half_width(text: str) -> list[str]:
    """The stretches of `text` where half-width punctuation touches Chinese."""
    for allowed in ALLOWED:
        text = text.replace(allowed, "")
    return [text[max(0, m.start() - 8) : m.end() + 8] for m in HALF_WIDTH.finditer(text)]


def template_text(source: str) -> tuple[str, list[str]]:
    """A template's text as shown (tags dropped, each `{{ }}` a placeholder, `{% %}` and
    comments nothing), and the quoted words inside its expressions (a dict of labels)."""
    words = [
        next(group for group in quoted.groups() if group is not None)
        for block in JINJA.findall(source)
        if not block.startswith("{#")
        for quoted in STRING.finditer(block)
    ]

    def placeholder(match: re.Match[str]) -> str:
        # What `{{ }}` prints may be Chinese or not: an `x` counts as neither, so the
        # characters written around it decide.
        return "x" if match.group(0).startswith("{{") else ""

    return TAG.sub("", JINJA.sub(placeholder, source)), words


def test_templates_use_full_width_punctuation_in_chinese_text():
    found = []
    for path in sorted((SITE / "templates").rglob("*.html")):
        text, words = template_text(path.read_text())
        for line in text.splitlines():
            found += [f"{path.relative_to(SITE)}: {hit}" for hit in half_width(line)]
        for word in words:
            found += [f"{path.relative_to(SITE)}: {hit}" for hit in half_width(word)]
    assert found == []


def python_strings(path: Path) -> list[str]:
    """The string literals of a module that are not docstrings: its messages and labels."""
    strings, previous = [], None
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    for index, token in enumerate(tokens):
        if token.type == tokenize.STRING:
            follows = tokens[index + 1].type if index + 1 < len(tokens) else None
            starts_statement = previous is None or previous.type in (
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            )
            if not (starts_statement and follows == tokenize.NEWLINE):
                # An f-string's replacement fields are code, not text.
                strings.append(re.sub(r"\{[^{}]*\}", "x", token.string))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    return strings


def test_messages_of_forms_views_wizards_and_sms_use_full_width_punctuation():
    # services/ too: the SMS texts a holder reads are composed there.
    modules = [
        SITE / "forms.py",
        *sorted((SITE / "views").glob("*.py")),
        *sorted((SITE / "wizards").glob("*.py")),
        *sorted((SITE / "services").glob("*.py")),
    ]
    found = [
        f"{path.relative_to(SITE)}: {hit}"
        for path in modules
        for string in python_strings(path)
        for hit in half_width(string.strip("\"'rfb"))
    ]
    assert found == []


def test_the_check_finds_half_width_punctuation_in_chinese_text():
    """The scan itself: it would catch what it is there to catch, and no code."""
    assert half_width("登录记录,最新的在前")
    assert half_width("办件编号(QZ2026)")
    assert half_width("是否仍在广州居住?")
    text, words = template_text(
        '<p>{{ a.name }}({{ b }})已登录</p>{{ {"x": "撤销注销,恢复"}[k] }}'
        '<a href="/v/{{ t }}?next={{ n }}">下一步</a>'
    )
    assert half_width(text) and half_width(words[1])
    assert not half_width('<a href="/x?a=1,2">下一页</a>'.replace('"', ""))
    assert not half_width("错误: 手机号码")
    assert not half_width("如2026-11-25，不能晚于今天")
