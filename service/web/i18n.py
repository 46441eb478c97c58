"""Page text in Simplified Chinese (the default) and English, and API error codes in words.

The words are in the gettext catalogues (service/locale, docs/translations.md), read through
service.catalogue: a page's message is its key ("reviews.counts"), an error code's is "error.<code>",
a form field's label "field.<name>". `install` puts the same catalogues on the pages' Jinja
environment with Jinja2's i18n extension, beside the templates' `t(...)`."""

from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from service.kit import catalogue

LANGUAGES = catalogue.LANGUAGES
DEFAULT = catalogue.DEFAULT
COOKIE = "cv_lang"
# The error codes the catalogue has words for (any other code reads as a generic refusal).
ERRORS = frozenset(key.removeprefix("error.") for key in catalogue.messages(DEFAULT)
                   if key.startswith("error."))


def normalise(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def translate(lang: str, key: str, **values: Any) -> str:
    return catalogue.say(normalise(lang), key, **values)


def error_text(lang: str, code: str, status: int | None = None) -> str:
    if code in ERRORS:
        return translate(lang, f"error.{code}")
    return translate(lang, "error.internal_error" if status and status >= 500
                     else "error.invalid_state")


def field_label(lang: str, field: str) -> str:
    key = f"field.{field.split('.')[-1]}"
    return translate(lang, key) if catalogue.has(normalise(lang), key) else field


@pass_context
def _gettext(context: Context, key: str, **values: Any) -> str:
    message = catalogue.translations(normalise(context.get("lang"))).gettext(key)
    return message.format(**values) if values else message


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int, **values: Any) -> str:
    message = catalogue.translations(normalise(context.get("lang"))).ngettext(singular, plural, n)
    return message.format(n=n, **values)


def install(env: Environment) -> None:
    """Jinja2's i18n extension on `env`, answering in the page's language (the context's `lang`):
    `{{ _('reviews.counts', open=3, overdue=1) }}` reads as `t(...)` does."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=False)
