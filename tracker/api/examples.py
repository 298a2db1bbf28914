"""Examples the OpenAPI document shows at /docs, drawn from the bundled seed feed.

Kept apart from schemas.py so the shapes stay readable; each schema points here.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPANY_LIST",
    "COMPANY_STATE",
    "EVENT",
    "EVENTS_RECORDED",
    "EVENT_BATCH_IN",
    "EVENT_IN",
    "EVENT_LIST",
    "FUNDING_ROUND",
    "FUNDING_ROUND_LIST",
    "HEALTH",
    "INVESTOR",
    "MODEL",
    "MODEL_LIST",
    "PERSON",
    "PROBLEM",
]

CAIXIN = "https://www.caixinglobal.com/2026-02-02/in-depth-megvii-co-founder-is-back.html"
KR36 = "https://eu.36kr.com/en/p/3656118724010374"
_SOURCE: dict[str, Any] = {
    "url": KR36,
    "publisher": "36Kr",
    "language": "en",
    "published_at": "2026-01-26",
}
_DAY: dict[str, Any] = {"date": "2026-01-26", "precision": "day"}


def _report(event_id: str, date: dict[str, str], url: str = KR36) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "date": date,
        "recorded_at": "2026-02-03T09:12:44.120000+00:00",
        "sources": [{**_SOURCE, "url": url}],
    }


MONEY: dict[str, Any] = {
    "value": "5000000000",
    "currency": "CNY",
    "qualifier": "at_least",
    "value_usd": "718971717",
    "usd_rate": "0.143794",
    "rate_date": "2026-01-26",
}
ROUND: dict[str, Any] = {
    "round": "series_b_plus",
    "announced_on": _DAY,
    "money_raised": MONEY,
    "valuation": None,
    "lead_investors": ["Shanghai State-owned Capital Investment"],
    "investors": ["Tencent", "Qiming Venture Partners", "5Y Capital"],
    "reports": [
        _report("9095c005-4860-407d-9036-cf42b111b5ce", _DAY),
        _report(
            "1c1e4a55-3a43-4c8e-9a57-7d1f6f0e2b10",
            {"date": "2025-01-01", "precision": "month"},
            CAIXIN,
        ),
    ],
    "conflicts": ["announced_on"],
}
LEADER: dict[str, Any] = {
    "person": "yin-qi",
    "person_name": "Yin Qi",
    "role": "chairman",
    "title": "Chairman",
    "since": _DAY,
    "reports": [_report("d717623c-cc59-4bdd-b3c1-b3bda81ea20d", _DAY)],
    "conflicts": [],
}
MODEL: dict[str, Any] = {
    "model": "step-3",
    "name": "Step-3",
    "released_on": {"date": "2025-07-01", "precision": "month"},
    "parameters_total": 321000000000,
    "parameters_active": 38000000000,
    "architecture": "moe",
    "modalities": ["text", "image"],
    "open_weights": True,
    "license": "Apache-2.0",
    "context_length": None,
    "reports": [
        _report(
            "5b0f6f7e-3f0e-4a57-a0a4-7f7b1d7e7c21", {"date": "2025-07-01", "precision": "month"}
        )
    ],
    "conflicts": [],
}
COMPANY_STATE: dict[str, Any] = {
    "company": "stepfun",
    "name": "StepFun",
    "aliases": ["Step Star", "阶跃星辰", "Shanghai Jieyue Xingchen Intelligent Technology"],
    "headquarters": "Xuhui District, Shanghai, China",
    "founded_on": {"date": "2023-04-06", "precision": "day"},
    "website": None,
    "description": "Shanghai large-model start-up building the Step series of models.",
    "leadership": [LEADER],
    "past_leadership": [],
    "funding": {"total_usd": "718971717", "rounds": [ROUND]},
    "models": [MODEL],
    "version": 22,
    "as_of": None,
    "known_at": None,
}
COMPANY_LIST: dict[str, Any] = {
    "items": [
        {
            "slug": "stepfun",
            "name": "StepFun",
            "aliases": ["Step Star", "阶跃星辰", "Shanghai Jieyue Xingchen Intelligent Technology"],
        }
    ],
    "next_cursor": None,
}
EVENT: dict[str, Any] = {
    "id": "d717623c-cc59-4bdd-b3c1-b3bda81ea20d",
    "type": "leadership.appointed",
    "stream": "company-stepfun",
    "version": 21,
    "position": 31,
    "occurred_on": _DAY,
    "recorded_at": "2026-02-03T09:12:44.120000+00:00",
    "data": {
        "company": "stepfun",
        "person": "yin-qi",
        "person_name": "Yin Qi",
        "role": "chairman",
        "title": "Chairman",
    },
    "sources": [_SOURCE],
    "metadata": {},
}
EVENT_LIST: dict[str, Any] = {"items": [EVENT], "next_cursor": "31"}
EVENTS_RECORDED: dict[str, Any] = {"events": [EVENT], "replayed": False}
EVENT_IN: dict[str, Any] = {
    "type": "leadership.appointed",
    "occurred_on": "2026-01-26",
    "data": {"company": "Step Star", "person": "Yin Qi", "role": "chairman", "title": "Chairman"},
    "sources": [{"url": KR36, "publisher": "36Kr", "language": "en"}],
    "expected_version": 20,
}
EVENT_BATCH_IN: dict[str, Any] = {
    "events": [
        {
            "type": "funding_round.announced",
            "occurred_on": "2026-01-26",
            "data": {
                "company": "stepfun",
                "round": "series_b_plus",
                "money_raised": {"value": "5000000000", "currency": "CNY", "qualifier": "at_least"},
                "lead_investors": ["Shanghai State-owned Capital Investment"],
                "investors": ["Tencent"],
            },
            "sources": [{"url": KR36, "publisher": "36Kr"}],
        },
        EVENT_IN,
    ]
}
PERSON: dict[str, Any] = {
    "person": "yin-qi",
    "name": "Yin Qi",
    "roles": [
        {
            "company": "megvii",
            "company_name": "Megvii",
            "role": "ceo",
            "title": "Co-founder and CEO",
            "since": {"date": "2011-01-01", "precision": "year"},
            "until": {"date": "2024-11-01", "precision": "month"},
            "current": False,
            "reports": [],
            "conflicts": [],
        },
        {
            "company": "stepfun",
            "company_name": "StepFun",
            "role": "chairman",
            "title": "Chairman",
            "since": _DAY,
            "until": None,
            "current": True,
            "reports": [],
            "conflicts": [],
        },
    ],
}
FUNDING_ROUND: dict[str, Any] = {"company": "stepfun", "company_name": "StepFun", **ROUND}
FUNDING_ROUND_LIST: dict[str, Any] = {"items": [FUNDING_ROUND], "next_cursor": None}
INVESTOR: dict[str, Any] = {
    "investor": "tencent",
    "name": "Tencent",
    "items": [{**FUNDING_ROUND, "lead": False}],
    "next_cursor": None,
}
MODEL_LIST: dict[str, Any] = {
    "items": [{"company": "stepfun", "company_name": "StepFun", **MODEL}],
    "next_cursor": None,
}
HEALTH: dict[str, Any] = {
    "status": "ok",
    "database": "ok",
    "projections": {"funding_rounds": 0, "leadership": 0, "models": 0},
    "dispatcher": 0,
    "workers": [
        {
            "worker_id": "worker-3f9a1c2e",
            "hostname": "tracker-worker-1",
            "pid": 7,
            "beat_at": "2026-11-28T02:40:00Z",
            "parts": ["ProjectionWorker", "FeedPolling", "WebhookWorker"],
        }
    ],
}
PROBLEM: dict[str, Any] = {
    "type": "urn:tracker:problem:invalid-input",
    "title": "Invalid input",
    "status": 422,
    "detail": "body.data.money_raised.currency: unknown currency 'RMB'",
    "instance": "/v1/events",
    "errors": [
        {"loc": ["body", "data", "money_raised", "currency"], "msg": "unknown currency 'RMB'"}
    ],
}
