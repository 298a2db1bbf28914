"""`/v1/subscriptions` (admin): webhook subscriptions and their deliveries.

Each handler parses, calls one command (commands/subscriptions.py, deliveries.py) and
returns a schema. The SSRF guard comes from the composition root as
`app.state.check_webhook_url`, so this router imports nothing of `tracker.webhooks`.
Bodies are parsed after the key check (deps.EventBody), so a caller without an admin
key learns nothing about the body's shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracker.api.deps import AdminKey, Cursor, EngineDep, EventBody, limit_query
from tracker.api.problems import problem_responses
from tracker.commands import deliveries as outbox
from tracker.commands import subscriptions as commands
from tracker.domain.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/subscriptions",
    tags=["subscriptions"],
    responses=problem_responses(401, 403, 422, 503),
)
SubscriptionId = Annotated[str, Path(max_length=40, description="`sub_...`")]
DeliveryId = Annotated[str, Path(max_length=40, description="`msg_...`, the webhook-id")]
Limit = Annotated[int, limit_query(50, 200)]
# The statuses of commands/webhook_tables.py; what each means: commands/deliveries.py.
DeliveryStatus = Literal["pending", "sending", "succeeded", "failed", "dead", "cancelled"]
_FILTERS = (
    "`event_types`: names or prefixes such as `leadership.*`; `companies`: slugs, names "
    "or aliases (stored as slugs). Empty lists mean every event type, every company."
)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=2000, description="https:// receiver URL.")
    event_types: list[str] = Field(default_factory=list, max_length=100)
    companies: list[str] = Field(default_factory=list, max_length=500)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=100)
    companies: list[str] | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    companies: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why deliveries stopped, if they did.")
    created_at: datetime
    updated_at: datetime
    last_success_at: datetime | None
    failing_since: datetime | None


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="`whsec_...`: shown only now. Verify signatures with it.")


class SecretRotated(SubscriptionOut):
    secret: str = Field(description="The new `whsec_...` secret: shown only now.")
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries carry a signature by the old secret too."
    )


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    id: str = Field(description="The `webhook-id` header, the same on every attempt.")
    subscription_id: str
    event_id: str | None = Field(description="null for `webhook.ping`.")
    event_type: str
    position: int | None
    replay: int = Field(description="0 for live deliveries; n for the n-th replay.")
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt.")
    last_error: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class ReplayOut(BaseModel):
    deliveries: int = Field(description="Deliveries queued by this replay.")
    replay: int = Field(description="This replay's number, shown on its deliveries.")
    next_position: int | None = Field(
        description="More matched than one replay queues: replay again from here."
    )


def _body(model: type[BaseModel], payload: Any) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def _check_url(request: Request) -> commands.CheckUrl:
    check: commands.CheckUrl | None = getattr(request.app.state, "check_webhook_url", None)
    if check is None:  # fail closed: never store a URL the SSRF guard has not seen
        raise RuntimeError("app.state.check_webhook_url is not set; create_app must wire it")
    return check


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


@router.post(
    "",
    status_code=201,
    summary="Subscribe a URL to events",
    description=_FILTERS,
    openapi_extra=_request_body(SubscriptionIn),
)
def create(
    _key: AdminKey, payload: EventBody, engine: EngineDep, request: Request
) -> SubscriptionCreated:
    body = _body(SubscriptionIn, payload)
    try:
        created = commands.create_subscription(
            engine, **body.model_dump(), check_url=_check_url(request)
        )
    except InvalidInput as exc:
        raise exc.prefixed("body") from None
    return SubscriptionCreated(**created.subscription, secret=created.secret)


@router.get("", summary="List subscriptions")
def list_all(
    _key: AdminKey, engine: EngineDep, limit: Limit = 50, cursor: Cursor = None
) -> SubscriptionList:
    page = commands.list_subscriptions(engine, limit=limit, cursor=cursor)
    return SubscriptionList.model_validate(page, from_attributes=True)


@router.get("/{subscription_id}", summary="A subscription", responses=problem_responses(404))
def get(_key: AdminKey, engine: EngineDep, subscription_id: SubscriptionId) -> SubscriptionOut:
    return SubscriptionOut(**commands.get_subscription(engine, subscription_id))


@router.patch(
    "/{subscription_id}",
    summary="Change some fields of a subscription",
    description=_FILTERS + " `enabled: true` re-queues what disabling stopped.",
    openapi_extra=_request_body(SubscriptionPatch),
    responses=problem_responses(404),
)
def patch(
    _key: AdminKey,
    payload: EventBody,
    engine: EngineDep,
    request: Request,
    subscription_id: SubscriptionId,
) -> SubscriptionOut:
    changes = _body(SubscriptionPatch, payload).model_dump(exclude_unset=True)
    try:
        updated = commands.update_subscription(
            engine, subscription_id, changes, check_url=_check_url(request)
        )
    except InvalidInput as exc:
        raise exc.prefixed("body") from None
    return SubscriptionOut(**updated)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Delete a subscription and its deliveries",
    responses=problem_responses(404),
)
def delete(_key: AdminKey, engine: EngineDep, subscription_id: SubscriptionId) -> Response:
    commands.delete_subscription(engine, subscription_id)
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret",
    summary="Issue a new signing secret (the old one signs too for 24 hours)",
    responses=problem_responses(404),
)
def rotate_secret(
    _key: AdminKey, engine: EngineDep, subscription_id: SubscriptionId
) -> SecretRotated:
    rotated = commands.rotate_secret(engine, subscription_id)
    return SecretRotated(
        **rotated.subscription,
        secret=rotated.secret,
        previous_secret_expires_at=rotated.previous_secret_expires_at,
    )


@router.get(
    "/{subscription_id}/deliveries",
    summary="A subscription's deliveries, newest first",
    responses=problem_responses(404),
)
def deliveries(
    _key: AdminKey,
    engine: EngineDep,
    subscription_id: SubscriptionId,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only deliveries in this status.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DeliveryList:
    page = outbox.list_deliveries(
        engine, subscription_id, status=status, limit=limit, cursor=cursor
    )
    return DeliveryList.model_validate(page, from_attributes=True)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    summary="Send a delivery again now",
    responses=problem_responses(404),
)
def retry(
    _key: AdminKey, engine: EngineDep, subscription_id: SubscriptionId, delivery_id: DeliveryId
) -> DeliveryOut:
    return DeliveryOut(**outbox.retry_delivery(engine, subscription_id, delivery_id))


@router.post(
    "/{subscription_id}/replay",
    status_code=202,
    summary="Deliver matching events again, from a log position on",
    responses=problem_responses(404),
)
def replay(
    _key: AdminKey,
    engine: EngineDep,
    subscription_id: SubscriptionId,
    from_position: Annotated[int, Query(ge=0, description="First log position to replay.")],
) -> ReplayOut:
    replayed = outbox.replay_deliveries(engine, subscription_id, from_position)
    return ReplayOut(
        deliveries=replayed.deliveries,
        replay=replayed.generation,
        next_position=replayed.next_position,
    )


@router.post(
    "/{subscription_id}/ping",
    status_code=202,
    summary="Send a signed `webhook.ping` (no event behind it)",
    responses=problem_responses(404),
)
def ping(_key: AdminKey, engine: EngineDep, subscription_id: SubscriptionId) -> DeliveryOut:
    return DeliveryOut(**outbox.ping_subscription(engine, subscription_id))
