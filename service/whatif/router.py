"""Policy what-if routes (docs/what-if.md): stored scenarios and the comparison."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response


from service.api import ADMIN, BUREAU, BureauReport, Cursor, Limit, SessionDep, Writer, YearPath, \
    allow, writer
from service.kit.paging import Page, paginate
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import Busy, NotFound
from service.kit.rows import one_readable
from service.whatif import access
from service.whatif import compare as service
from service.whatif import export
from service.whatif.models import Scenario
from service.whatif.schemas import CompareRequest, CompareResponse, ScenarioCreate, \
    ScenarioPublic
from service.kit.types import ObjectIdPath

router = APIRouter(prefix="/v1/years/{year}/scenarios", tags=["what-if"])
BureauReader = Annotated[Principal, Depends(allow(*BUREAU))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
View = Literal["parameters", "summary", "groups", "buckets", "curve"]


@router.post("", status_code=201, response_model=ScenarioPublic, operation_id="createScenario",
             responses=problem_responses(NotFound))
def create_scenario(year: YearPath, body: ScenarioCreate,
                    w: Annotated[Writer, Depends(writer(*ADMIN))]):
    return w.run(lambda s: service.create(s, year, body, w.principal.key_id), status_code=201)


@router.get("", response_model=Page[ScenarioPublic], operation_id="listScenarios",
            responses=problem_responses(NotFound))
def list_scenarios(year: YearPath, session: SessionDep, principal: BureauReader, limit: Limit = 50,
                   cursor: Cursor = None):
    service.get_year(session, year)
    return paginate(session, access.readable(principal).where(Scenario.year == year), Scenario.id,
                    limit,
                    cursor, service.to_public)


@router.post("/compare", response_model=CompareResponse, operation_id="compareScenarios",
             responses={200: {"description": "The comparison (JSON), or its export",
                              "content": {"text/csv": {"schema": {"type": "string"}},
                                          XLSX: {"schema": {"type": "string",
                                                            "format": "binary"}}}},
                        **problem_responses(NotFound, Busy)})
async def compare_scenarios(year: YearPath, body: CompareRequest, r: BureauReport,
                            format: Annotated[Literal["json", "xlsx", "csv"], Query()] = "json",
                            view: Annotated[View, Query()] = "groups"):
    """Replays the year's claims under each scenario, beside the baseline. Writes nothing.
    Runs on the heavy-read pool: 503 `busy` with Retry-After when it is full."""
    def compute(session) -> dict | Response:
        answer = service.compare(session, year, body.baseline, body.scenarios, body.group_by)
        if format == "json":
            return answer
        name = f"what-if-{year}-{answer['data_version']}"
        if format == "xlsx":
            return Response(export.to_xlsx(answer), media_type=XLSX, headers={
                "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
        return Response(export.to_csv(answer, view), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{name}-{view}.csv"'})
    return await r.heavy_read(compute)


@router.get("/{scenario_id}", response_model=ScenarioPublic, operation_id="getScenario",
            responses=problem_responses(NotFound))
def get_scenario(year: YearPath, scenario_id: ObjectIdPath, session: SessionDep,
                 principal: BureauReader):
    service.get_year(session, year)
    return service.to_public(one_readable(session, access.readable(principal).where(
        Scenario.id == scenario_id, Scenario.year == year), f"no scenario {scenario_id} in {year}"))
