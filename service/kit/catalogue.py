"""Every sentence the service shows people, in Simplified Chinese (the default) and English, from
the gettext catalogues in service/locale (docs/translations.md).

A message's msgid is a key ("rule.round_amount.says"); its msgstr is a Python format string with
named placeholders ("发票 {number} 金额 {total} 元，…"). The catalogues are read with Babel once,
when first asked for, and compiled in memory: a translator edits the .po files with standard tools
and nothing has to be compiled by hand. The web pages, the risk rules and the what-if summaries all
read through this module, so it sits below all of them."""

from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"


def po_path(lang: str) -> Path:
    """The catalogue of `lang` ("zh-CN" lives in zh_CN, gettext's spelling)."""
    return LOCALE_DIR / lang.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def _catalogue(lang: str) -> tuple[dict[str, str], Translations]:
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang.replace("-", "_"), domain=DOMAIN)
    messages = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return messages, Translations(compiled, domain=DOMAIN)


def messages(lang: str) -> dict[str, str]:
    """msgid → msgstr of `lang`'s catalogue (translated, not fuzzy)."""
    return _catalogue(lang)[0]


def translations(lang: str) -> Translations:
    """`lang`'s catalogue as gettext translations (for Jinja2's i18n extension)."""
    return _catalogue(lang)[1]


def has(lang: str, key: str) -> bool:
    return key in messages(lang)


def say(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang` with `values` filled in; the key itself when it is unknown."""
    text = messages(lang if lang in LANGUAGES else DEFAULT).get(key, key)
    return text.format(**values) if values else text


def both(key: str, **values: Any) -> tuple[str, str]:
    """The message in Chinese and in English, as flags and summaries carry it."""
    zh, en = (say(lang, key, **values) for lang in LANGUAGES)
    return zh, en
