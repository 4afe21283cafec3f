"""The queue: rejected clips (and spot checks), filtered, counted per reason and paged."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from review.deps import LedgerDep, SettingsDep
from review.pages import render
from review.queue import neighbour, page_of, verdicts
from review.schemas import QueueParams, StepParams

router = APIRouter()


@router.get("/")
def home() -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue(request: Request, query: QueueParams, ledger: LedgerDep,
          settings: SettingsDep) -> Response:
    items = verdicts(ledger, settings.spot_check_fraction, settings.spot_check_seed)
    page = page_of(items, query.filters(), query.page, settings.page_size)
    labels = sorted({label for item in items for label in item.clip.labels})
    return render(request, "queue.html", page=page, query=query, labels_seen=labels,
                  filters=query.params(page=None))


@router.get("/queue/step")
def step(query: StepParams, ledger: LedgerDep, settings: SettingsDep) -> Response:
    """The clip after (or before) `after` under the queue's filters: one key on a clip page."""
    items = verdicts(ledger, settings.spot_check_fraction, settings.spot_check_seed)
    target = neighbour(items, query.filters(), query.after, 1 if query.direction == "next" else -1)
    params = urlencode(query.params(page=None))
    if target is None:
        return RedirectResponse(f"/queue?{params}&end=1" if params else "/queue?end=1", 303)
    return RedirectResponse(f"/clips/{target}?{params}" if params else f"/clips/{target}", 303)
