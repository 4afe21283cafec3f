"""A clip's page, its media (by clip id only) and the decisions annotators post on it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from manifests.ledger import Decision, Ledger, Review, StaleVerdict, review_reason
from manifests.ledger.reviews import ReviewReason
from review.clip import TIMELINE_ROWS, clip_view, landmarks_bytes, qc_payload
from review.deps import LedgerDep, Session, SettingsDep
from review.pages import render
from review.queue import Verdict, verdict_of
from review.schemas import ClipId, ClipParams, DecisionForm, QueueParams
from review.settings import ReviewSettings

router = APIRouter()


def _verdict(ledger: Ledger, settings: ReviewSettings, clip_id: str) -> Verdict:
    verdict = verdict_of(ledger, clip_id, settings.spot_check_fraction, settings.spot_check_seed)
    if verdict is None:
        raise HTTPException(404, "No clip with this id is waiting for review.")
    return verdict


def _page(request: Request, ledger: Ledger, verdict: Verdict, query: QueueParams,
          status_code: int = 200, message: str | None = None,
          error: str | None = None, form: DecisionForm | None = None) -> Response:
    view = clip_view(ledger, request.app.state.home, verdict)
    return render(request, "clip.html", status_code, view=view, verdict=verdict,
                  filters=query.params(page=None), message=message, error=error, form=form,
                  timeline_rows=TIMELINE_ROWS)


@router.get("/clips/{clip_id}")
def clip_page(request: Request, clip_id: ClipId, query: ClipParams, session: Session,
              ledger: LedgerDep, settings: SettingsDep) -> Response:
    verdict = _verdict(ledger, settings, clip_id)
    ledger.audit(session.user.name, "clip_viewed", clip_id)
    message = "Decision recorded. Press n for the next clip." if query.decided else None
    return _page(request, ledger, verdict, query, message=message)


@router.get("/clips/{clip_id}/video")
def video(request: Request, clip_id: ClipId, ledger: LedgerDep,
          settings: SettingsDep) -> Response:
    """The clip's raw video; range requests let the player seek."""
    view = clip_view(ledger, request.app.state.home, _verdict(ledger, settings, clip_id))
    if view.video is None:
        raise HTTPException(404, "The raw video of this clip is no longer on disk.")
    return FileResponse(view.video, media_type="video/mp4",
                        content_disposition_type="inline")


@router.get("/clips/{clip_id}/qc.json")
def qc(request: Request, clip_id: ClipId, ledger: LedgerDep, settings: SettingsDep) -> Response:
    _verdict(ledger, settings, clip_id)
    return JSONResponse(qc_payload(ledger, request.app.state.home, clip_id))


@router.get("/clips/{clip_id}/landmarks.bin")
def landmarks(request: Request, clip_id: ClipId, ledger: LedgerDep,
              settings: SettingsDep) -> Response:
    """(frames, 478, 2) little-endian float32 pixel coordinates, NaN where no face."""
    _verdict(ledger, settings, clip_id)
    data = landmarks_bytes(ledger, request.app.state.home, clip_id)
    if data is None:
        raise HTTPException(404, "This clip has no face track.")
    return Response(data, media_type="application/octet-stream")


@router.post("/clips/{clip_id}/decisions")
def decide(request: Request, clip_id: ClipId, query: QueueParams, session: Session,
           ledger: LedgerDep, settings: SettingsDep,
           form: Annotated[DecisionForm, Form()]) -> Response:
    verdict = _verdict(ledger, settings, clip_id)
    attempt, seen = (int(part) for part in form.version.split("."))
    problem = _form_problem(form, verdict)
    if problem is not None:
        return _page(request, ledger, verdict, query, 422, error=problem, form=form)
    review = Review(clip_id, form.stage, form.decision, session.user.name, attempt,
                    review_reason(form.reason), form.note.strip())
    try:
        ledger.decide(review, seen)
    except StaleVerdict as e:
        ledger.audit(session.user.name, "decision_refused", clip_id,
                     {"decision": form.decision.value, "why": str(e)})
        fresh = _verdict(ledger, settings, clip_id)
        return _page(request, ledger, fresh, query, 409, error=str(e), form=form)
    ledger.audit(session.user.name, "decision", clip_id,
                 {"decision": form.decision.value, "stage": form.stage, "attempt": attempt})
    params = urlencode({"decided": 1, **query.params(page=None)})
    return RedirectResponse(f"/clips/{clip_id}?{params}", status_code=303)


def _form_problem(form: DecisionForm, verdict: Verdict) -> str | None:
    """What is wrong with a decision in words, or None."""
    try:
        reason = review_reason(form.reason)
    except ValueError:
        return f"Unknown reason code {form.reason!r}."
    if form.decision is Decision.OVERRIDE:
        rejected = verdict.status == "rejected"
        if rejected and not isinstance(reason, ReviewReason):
            return "Overriding a rejection needs a reason: say why the clip is usable."
        if not rejected and (reason is None or isinstance(reason, ReviewReason)):
            return "Rejecting an accepted clip needs the reason code of what is wrong with it."
        if not form.note.strip():
            return "An override needs a note for the next reader."
    if form.decision is Decision.REQUEUE and not form.note.strip():
        return "Sending a clip back needs a note saying what to look at."
    return None
