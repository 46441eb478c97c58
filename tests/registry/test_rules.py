"""The registry's rules on a session (service/registry, PRODUCT.md §3.2), on both databases:
a USCC's check character, the override that keeps the shape, one registration per USCC, and who
counts as related (same USCC, or a recorded pair)."""

import pytest
from sqlalchemy import func, select

from service.kit.errors import AlreadyExists, InvalidUSCC
from service.registry import service as registry
from service.registry.models import Enterprise
from service.registry.schemas import RelatedPartyCreate
from tests.factories import uscc
from tests.makers import make_enterprise, make_provider, write


def enterprises(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Enterprise)).scalar_one()


def wrong_check_char(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def test_a_uscc_with_a_wrong_check_character_is_refused_naming_uscc(engine):
    with pytest.raises(InvalidUSCC) as refused:
        write(engine, lambda s: make_enterprise(s, uscc=wrong_check_char(uscc())))
    assert [e.field for e in refused.value.errors] == ["uscc"]
    assert enterprises(engine) == 0


def test_an_override_admits_a_wrong_check_character_but_not_a_wrong_shape(engine):
    code = wrong_check_char(uscc())
    row = write(engine, lambda s: make_enterprise(s, uscc=code, uscc_override_reason="旧证照"))
    assert (row.uscc, row.uscc_override) == (code, True)
    with pytest.raises(InvalidUSCC):
        write(engine, lambda s: make_enterprise(s, uscc=code[:17],
                                                uscc_override_reason="旧证照"))
    for wrong_shape in ("9121020000000000a1", "91210200000000001中"):
        with pytest.raises(InvalidUSCC):
            write(engine, lambda s, code=wrong_shape: make_enterprise(
                s, uscc=code, uscc_override_reason="旧证照"))
    assert enterprises(engine) == 1


def test_a_uscc_is_registered_once(engine):
    code = uscc()
    write(engine, lambda s: make_enterprise(s, uscc=code))
    with pytest.raises(AlreadyExists):
        write(engine, lambda s: make_enterprise(s, uscc=code, name="另一家"))
    assert enterprises(engine) == 1


def test_parties_are_related_by_one_uscc_or_a_recorded_pair(engine):
    code = uscc()
    ent = write(engine, lambda s: make_enterprise(s, uscc=code).id)
    same = write(engine, lambda s: make_provider(s, uscc=code).id)
    other = write(engine, lambda s: make_provider(s).id)

    def related(provider_id):
        return write(engine, lambda s: registry.are_related(
            s, registry.get_enterprise(s, ent), registry.get_provider(s, provider_id)))

    assert (related(same), related(other)) == (True, False)
    write(engine, lambda s: registry.create_related_party(s, RelatedPartyCreate(
        enterprise_id=ent, provider_id=other, reason="同一实际控制人")))
    assert related(other) is True
    with pytest.raises(AlreadyExists):
        write(engine, lambda s: registry.create_related_party(s, RelatedPartyCreate(
            enterprise_id=ent, provider_id=other, reason="again")))
