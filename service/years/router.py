from typing import Annotated

from fastapi import APIRouter, Depends

from service.api import ADMIN, BUREAU, SessionDep, Writer, YearPath, allow, writer
from service.auth.principal import Principal
from service.errors import problem_responses
from service.years import service
from service.years.schemas import YearCreate, YearPublic, YearUpdate

router = APIRouter(prefix="/v1/years", tags=["years"])


@router.post("", status_code=201, response_model=YearPublic, operation_id="createYear",
             responses=problem_responses(401, 403, 409, 422))
def create_year(body: YearCreate, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    return w.run(lambda s: service.to_public(s, service.create_year(s, body)), status_code=201)


@router.get("/{year}", response_model=YearPublic, operation_id="getYear",
            responses=problem_responses(401, 403, 404, 422))
def get_year(year: YearPath, session: SessionDep,
             _: Annotated[Principal, Depends(allow(*BUREAU))]):
    return service.to_public(session, service.get_year(session, year))


@router.patch("/{year}", response_model=YearPublic, operation_id="updateYear",
              responses=problem_responses(401, 403, 404, 409, 422))
def update_year(year: YearPath, body: YearUpdate, w: Annotated[Writer, Depends(writer(*ADMIN))]):
    return w.run(lambda s: service.to_public(s, service.update_year(s, year, body)))
