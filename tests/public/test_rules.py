"""The rules under the open-data feed, without HTTP: the validator and its match."""

from service.public.awards import etag, matches


def test_if_none_match_lists_weak_tags_and_star():
    tag = etag(b"{}")
    assert tag == etag(b"{}") != etag(b"{} ")
    assert matches(tag, tag) and matches(f'"x", W/{tag}', tag) and matches("*", tag)
    assert not matches(None, tag) and not matches("", tag) and not matches('"x"', tag)
    assert not matches(tag[1:-1], tag)  # an unquoted tag is not the tag
