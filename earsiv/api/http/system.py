"""``/v1/status`` and ``/healthz``: how the archive is doing, and whether the server is up."""

from __future__ import annotations

from fastapi import APIRouter

from earsiv.api.http.deps import Caller, Service
from earsiv.api.http.problems import error_responses
from earsiv.api.http.schemas import HealthResponse, StatusResponse

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/v1/status", operation_id="getStatus", summary="Archive status", response_model=StatusResponse,
            responses=error_responses(401, 403, 503))
def status(service: Service, who: Caller) -> StatusResponse:
    """Documents, bytes received vs stored, the last checkpoint and its stamp, pending work (admins)."""
    return StatusResponse.from_domain(service.status(who))


@router.get("/healthz", operation_id="getHealth", summary="Liveness", response_model=HealthResponse)
def health(service: Service) -> HealthResponse:
    """200 once the archive is open and the server takes requests."""
    del service  # depending on it is the check: it exists only while the archive is open
    return HealthResponse()
