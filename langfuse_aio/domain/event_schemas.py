"""Body schemas of every ingestion event type (spec §2.3, plus HEAD's `environment`, score `sessionId` and
`metadata`, and generation `usageDetails`/`costDetails`).

pydantic checks types in strict mode (a JSON number is never a string, a bool never a number) and builds the
output dict: unknown keys are ignored, i.e. stripped, and an absent key stays absent while an explicit null
is kept. Rules that zod expresses as refinements or transforms run afterwards in plain Python
(`event_bodies`). Errors come out as readable `body.path: problem` strings.

JSON fields (`input`, `output`, `metadata`, sdk-log `log`) are kept as given, without walking them: any
value decoded from JSON is valid JSON, and a walk would cost time and recursion depth. NaN and Infinity are
not JSON: the request parser must refuse them.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Required

from pydantic import (
    ConfigDict,
    PlainValidator,
    StrictBool,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict  # pydantic needs typing_extensions' TypedDict before 3.12

from langfuse_aio.domain.validation import INVALID_DATETIME, ISO_DATETIME_PATTERN, Invalid, js_int, js_number

_CONFIG: Final = ConfigDict(strict=True, extra="ignore")

IsoDatetime = Annotated[StrictStr, StringConstraints(pattern=ISO_DATETIME_PATTERN)]
JsInt = Annotated[int, PlainValidator(js_int)]
JsNumber = Annotated[float, PlainValidator(js_number)]
Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
TraceName = Annotated[StrictStr, StringConstraints(max_length=1000)]
NonEmptyStr = Annotated[StrictStr, StringConstraints(min_length=1)]
UsageUnit = Literal["CHARACTERS", "TOKENS", "SECONDS", "MILLISECONDS", "IMAGES", "REQUESTS"]


@with_config(_CONFIG)
class MixedUsage(TypedDict, total=False):
    input: JsInt | None
    output: JsInt | None
    total: JsInt | None
    promptTokens: JsInt | None
    completionTokens: JsInt | None
    totalTokens: JsInt | None
    unit: UsageUnit | None
    inputCost: JsNumber | None
    outputCost: JsNumber | None
    totalCost: JsNumber | None


@with_config(_CONFIG)
class TraceBody(TypedDict, total=False):
    id: StrictStr | None
    timestamp: IsoDatetime | None
    name: TraceName | None
    externalId: StrictStr | None
    input: Any
    output: Any
    sessionId: StrictStr | None
    userId: StrictStr | None
    release: StrictStr | None
    version: StrictStr | None
    metadata: Any
    tags: list[StrictStr] | None
    public: StrictBool | None
    environment: StrictStr | None


@with_config(_CONFIG)
class EventBody(TypedDict, total=False):
    id: StrictStr | None
    traceId: StrictStr | None
    name: StrictStr | None
    startTime: IsoDatetime | None
    metadata: Any
    input: Any
    output: Any
    level: Level | None
    statusMessage: StrictStr | None
    parentObservationId: StrictStr | None
    version: StrictStr | None
    environment: StrictStr | None


@with_config(_CONFIG)
class SpanBody(EventBody, total=False):
    endTime: IsoDatetime | None


@with_config(_CONFIG)
class GenerationBody(SpanBody, total=False):
    completionStartTime: IsoDatetime | None
    model: StrictStr | None
    modelParameters: Any
    usage: MixedUsage | None
    usageDetails: Any
    costDetails: Any
    promptName: StrictStr | None
    promptVersion: JsInt | None


@with_config(_CONFIG)
class LegacyObservationBody(SpanBody, total=False):
    type: Required[Literal["GENERATION", "SPAN", "EVENT"]]
    completionStartTime: IsoDatetime | None
    model: StrictStr | None
    modelParameters: Any
    usage: MixedUsage | None
    usageDetails: Any
    costDetails: Any


@with_config(_CONFIG)
class ScoreBody(TypedDict, total=False):
    id: StrictStr | None
    name: Required[NonEmptyStr]
    traceId: StrictStr | None
    sessionId: StrictStr | None
    observationId: StrictStr | None
    value: Required[Any]
    dataType: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN"] | None
    source: Literal["API", "EVAL", "ANNOTATION"] | None
    comment: StrictStr | None
    configId: StrictStr | None
    metadata: Any
    environment: StrictStr | None


@with_config(_CONFIG)
class SdkLogBody(TypedDict, total=False):
    id: StrictStr | None
    log: Required[Any]


TRACE_BODY: Final = TypeAdapter(TraceBody)
EVENT_BODY: Final = TypeAdapter(EventBody)
SPAN_BODY: Final = TypeAdapter(SpanBody)
GENERATION_BODY: Final = TypeAdapter(GenerationBody)
LEGACY_BODY: Final = TypeAdapter(LegacyObservationBody)
SCORE_BODY: Final = TypeAdapter(ScoreBody)
SDK_LOG_BODY: Final = TypeAdapter(SdkLogBody)

_MESSAGES: Final = {
    "missing": "is required",
    "string_type": "expected a string",
    "bool_type": "expected a boolean",
    "list_type": "expected an array",
    "dict_type": "expected an object",
    "string_pattern_mismatch": INVALID_DATETIME,  # the only pattern in these schemas
    "string_too_short": "must not be empty",
}


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "literal_error":
        return f"expected {ctx['expected']}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    return _MESSAGES.get(kind, error["msg"])


def format_errors(exc: ValidationError, root: str) -> list[str]:
    """Readable issues, e.g. `body.startTime: invalid ISO-8601 datetime …`, `body.tags[1]: expected a string`."""
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        path = root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        issues.append(f"{path}: {_describe(error)}")
    return issues


def parse_body(adapter: TypeAdapter[Any], body: object) -> dict[str, Any]:
    try:
        return adapter.validate_python(body)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise Invalid(*format_errors(exc, "body")) from None
