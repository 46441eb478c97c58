"""The gettext catalogues (service/locale, docs/translations.md): every message in every language,
the same placeholders in each, and every key the code or a template asks for present."""

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment

from service.kit import catalogue
from service.web import i18n

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# t('key', …) / _('key') in a template; t('prefix.' ~ value) names a family of keys.
TEMPLATE_KEY = re.compile(r"""\b(?:t|_|gettext)\(\s*(['"])([\w.]+)\1\s*([,)~])""")
# The calls that take a catalogue key, and the position of the key among their arguments.
KEY_ARG = {"translate": 1, "say": 1, "has": 1, "both": 0, "flash": 3, "t": 0}


def _catalogue(lang: str):
    with catalogue.po_path(lang).open("rb") as f:
        return read_po(f, locale=lang.replace("-", "_"))


@pytest.fixture(scope="module")
def catalogues() -> dict:
    return {lang: {m.id: m for m in _catalogue(lang) if m.id} for lang in catalogue.LANGUAGES}


def test_every_message_is_in_every_language(catalogues):
    ids = {lang: set(c) for lang, c in catalogues.items()}
    every = set().union(*ids.values())
    missing = {lang: sorted(every - have) for lang, have in ids.items() if every - have}
    assert missing == {}
    untranslated = {lang: sorted(k for k, m in c.items() if not m.string or m.fuzzy)
                    for lang, c in catalogues.items()}
    assert untranslated == {lang: [] for lang in catalogue.LANGUAGES}


def test_placeholders_are_the_same_in_every_language(catalogues):
    zh, en = (catalogues[lang] for lang in catalogue.LANGUAGES)
    differ = {k: (sorted(set(PLACEHOLDER.findall(zh[k].string))),
                  sorted(set(PLACEHOLDER.findall(en[k].string))))
              for k in zh.keys() & en.keys()
              if set(PLACEHOLDER.findall(zh[k].string)) != set(PLACEHOLDER.findall(en[k].string))}
    # The msgids are keys, so msgfmt -c and Poedit cannot see the placeholders: this test does.
    assert differ == {}


def _python_keys() -> tuple[set[str], set[str]]:
    """Literal keys, and the literal beginnings of f-string keys, passed to the key calls."""
    keys, prefixes = set(), set()
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            at = KEY_ARG.get(name)
            if at is None or len(node.args) <= at:
                continue
            arg = node.args[at]
            for expr in (arg.body, arg.orelse) if isinstance(arg, ast.IfExp) else (arg,):
                if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
                    keys.add(expr.value)
                elif isinstance(expr, ast.JoinedStr) and isinstance(expr.values[0], ast.Constant):
                    prefixes.add(expr.values[0].value)
    return keys, prefixes


def _template_keys() -> tuple[set[str], set[str]]:
    keys, prefixes = set(), set()
    for path in (SERVICE / "web" / "templates").rglob("*.html"):
        for _quote, key, after in TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")):
            (prefixes if after == "~" else keys).add(key)
    return keys, prefixes


def test_every_key_the_code_uses_is_in_the_catalogue():
    have = set(catalogue.messages(catalogue.DEFAULT))
    py_keys, py_prefixes = _python_keys()
    html_keys, html_prefixes = _template_keys()
    assert len(html_keys) > 250 and len(py_keys) > 30  # the scan finds the calls
    assert sorted((py_keys | html_keys) - have) == []
    assert sorted(p for p in py_prefixes | html_prefixes
                  if not any(k.startswith(p) for k in have)) == []


def test_the_catalogue_answers_in_each_language():
    assert catalogue.both("reviews.counts", open=3, overdue=1) == ("待复核 3 笔，其中逾期 1 笔",
                                                              "3 open, 1 overdue")
    assert catalogue.say("fr", "app.title") == "算力券管理平台"  # an unknown language reads Chinese
    assert catalogue.say("en", "no.such.key") == "no.such.key"
    assert i18n.error_text("en", "pool_exhausted") == (
        "The year's voucher pool does not have enough left for this amount.")
    assert i18n.error_text("en", "some_new_code", 503) == i18n.error_text("en", "internal_error")
    assert i18n.error_text("zh-CN", "some_new_code", 409) == (
        "当前状态下不能执行此操作（可能已被他人处理），请刷新后查看。")
    assert i18n.field_label("en", "body.total_fen") == "total"
    assert i18n.field_label("en", "body.unknown") == "body.unknown"


def test_jinja_i18n_extension_reads_the_catalogue_in_the_pages_language():
    env = Environment(autoescape=True)
    i18n.install(env)
    page = env.from_string(
        "{{ _('reviews.counts', open=2, overdue=0) }}|{% trans %}app.title{% endtrans %}")
    assert page.render(lang="en") == "2 open, 0 overdue|Compute Voucher Platform"
    assert page.render(lang="zh-CN") == "待复核 2 笔，其中逾期 0 笔|算力券管理平台"
    assert page.render() == "待复核 2 笔，其中逾期 0 笔|算力券管理平台"
