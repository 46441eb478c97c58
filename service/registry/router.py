from typing import Annotated

from fastapi import APIRouter, Body, Depends

from service.api import (
    ADMIN,
    BUREAU,
    Cursor,
    Limit,
    SessionDep,
    Writer,
    YearPath,
    allow,
    writer,
    text_query,
)
from service.kit.paging import Page, paginate
from service.auth.principal import Principal
from service.kit.errors import NotFound
from service.problems import problem_responses
from service.kit.errors import AlreadyExists, InvalidUSCC
from service.kit.rows import one_readable
from service.invoices.numbers import split_key
from service.registry import access, service
from service.registry.models import Enterprise, Provider
from service.registry.schemas import (
    ApprovalPublic,
    ApprovalUpdate,
    EnterpriseCreate,
    EnterprisePublic,
    EnterpriseUpdate,
    OtherSubsidyCreate,
    OtherSubsidyPublic,
    ProviderCreate,
    ProviderPublic,
    ProviderUpdate,
    RelatedPartyCreate,
    RelatedPartyPublic,
)
from service.kit.types import ObjectIdPath

router = APIRouter(tags=["registry"])
AdminWriter = Annotated[Writer, Depends(writer(*ADMIN))]
BureauReader = Annotated[Principal, Depends(allow(*BUREAU))]
# Reviewers read the enterprises whose applications they review (a district reviewer: its own).
EnterpriseReader = Annotated[Principal, Depends(allow(*BUREAU, "reviewer"))]


def _enterprise(row: Enterprise) -> EnterprisePublic:
    return EnterprisePublic.model_validate(row, from_attributes=True)


def _provider(row: Provider) -> ProviderPublic:
    return ProviderPublic.model_validate(row, from_attributes=True)


@router.post("/v1/enterprises", status_code=201, response_model=EnterprisePublic,
             operation_id="createEnterprise", responses=problem_responses(AlreadyExists, InvalidUSCC))
def create_enterprise(body: EnterpriseCreate, w: AdminWriter):
    return w.run(lambda s: _enterprise(service.create_enterprise(s, body)), status_code=201)


@router.get("/v1/enterprises", response_model=Page[EnterprisePublic],
            operation_id="listEnterprises", responses=problem_responses())
def list_enterprises(session: SessionDep, principal: EnterpriseReader, limit: Limit = 50,
                     cursor: Cursor = None,
                     uscc: Annotated[str | None, text_query(18)] = None,
                     credit_blocked: bool | None = None):
    stmt = access.readable(principal)
    if uscc:
        stmt = stmt.where(Enterprise.uscc == uscc)
    if credit_blocked is not None:
        stmt = stmt.where(Enterprise.credit_blocked == credit_blocked)
    return paginate(session, stmt, Enterprise.id, limit, cursor, _enterprise)


@router.get("/v1/enterprises/{enterprise_id}", response_model=EnterprisePublic,
            operation_id="getEnterprise", responses=problem_responses(NotFound))
def get_enterprise(enterprise_id: ObjectIdPath, session: SessionDep, principal: EnterpriseReader):
    return _enterprise(one_readable(session, access.readable(principal).where(
        Enterprise.id == enterprise_id), f"no enterprise {enterprise_id}"))


@router.patch("/v1/enterprises/{enterprise_id}", response_model=EnterprisePublic,
              operation_id="updateEnterprise", responses=problem_responses(NotFound))
def update_enterprise(enterprise_id: ObjectIdPath, body: EnterpriseUpdate, w: AdminWriter):
    return w.run(lambda s: _enterprise(service.update_enterprise(s, enterprise_id, body)))


@router.post("/v1/providers", status_code=201, response_model=ProviderPublic,
             operation_id="createProvider", responses=problem_responses(AlreadyExists, InvalidUSCC))
def create_provider(body: ProviderCreate, w: AdminWriter):
    return w.run(lambda s: _provider(service.create_provider(s, body)), status_code=201)


@router.get("/v1/providers", response_model=Page[ProviderPublic], operation_id="listProviders",
            responses=problem_responses())
def list_providers(session: SessionDep, principal: BureauReader, limit: Limit = 50,
                   cursor: Cursor = None, uscc: Annotated[str | None, text_query(18)] = None):
    stmt = access.readable_providers(principal)
    if uscc:
        stmt = stmt.where(Provider.uscc == uscc)
    return paginate(session, stmt, Provider.id, limit, cursor, _provider)


@router.get("/v1/providers/{provider_id}", response_model=ProviderPublic,
            operation_id="getProvider", responses=problem_responses(NotFound))
def get_provider(provider_id: ObjectIdPath, session: SessionDep, principal: BureauReader):
    return _provider(one_readable(session, access.readable_providers(principal).where(
        Provider.id == provider_id), f"no provider {provider_id}"))


@router.patch("/v1/providers/{provider_id}", response_model=ProviderPublic,
              operation_id="updateProvider", responses=problem_responses(NotFound))
def update_provider(provider_id: ObjectIdPath, body: ProviderUpdate, w: AdminWriter):
    return w.run(lambda s: _provider(service.update_provider(s, provider_id, body)))


@router.put("/v1/years/{year}/approved-providers/{provider_id}", response_model=ApprovalPublic,
            operation_id="setProviderApproval", responses=problem_responses(NotFound))
def set_provider_approval(year: YearPath, provider_id: ObjectIdPath, w: AdminWriter,
                          body: Annotated[ApprovalUpdate | None, Body()] = None):
    approved = body.approved if body is not None else True
    return w.run(lambda s: service.set_approval(s, year, provider_id, approved))


@router.post("/v1/related-parties", status_code=201, response_model=RelatedPartyPublic,
             operation_id="createRelatedParty", responses=problem_responses(NotFound, AlreadyExists))
def create_related_party(body: RelatedPartyCreate, w: AdminWriter):
    return w.run(lambda s: RelatedPartyPublic.model_validate(
        service.create_related_party(s, body), from_attributes=True), status_code=201)


@router.post("/v1/other-subsidies", status_code=201, response_model=OtherSubsidyPublic,
             operation_id="createOtherSubsidy", responses=problem_responses(NotFound))
def create_other_subsidy(body: OtherSubsidyCreate, w: AdminWriter):
    return w.run(lambda s: _other_subsidy(service.create_other_subsidy(s, body)),
                 status_code=201)


def _other_subsidy(row) -> OtherSubsidyPublic:
    public = OtherSubsidyPublic.model_validate(row, from_attributes=True)
    if row.invoice_number:
        number, code = split_key(row.invoice_number)
        public = public.model_copy(update={"invoice_number": number, "invoice_code": code})
    return public
