"""The compliance officer's release pages: the verification report of each built release, verifying again,
approval (refused until verification passed, naming the failures), the audited download of an approved
package, and the signed withdrawal lists licensees must act on."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role
from collection.errors import NotFound
from collection.releases import ReleaseError, ReleaseState
from webapp.access import allow
from webapp.blueprints.comply.views import bp
from webapp.commands_release import release_service
from webapp.db import get_session
from webapp.release_words import refusal_text

OFFICERS = (Role.COMPLIANCE, Role.ADMIN)


@bp.get("/releases")
@allow(*OFFICERS)
def releases() -> str:
    service = release_service()
    # a release someone in it withdrew from can no longer be approved or downloaded: the list says so as its page does
    rows = [(r, service.campaign_of(r), service.withdrawn_subjects(r) if r.built_at else 0) for r in service.all()]
    return render_template("comply/releases/index.html", rows=rows)


@bp.get("/releases/<release_id>")
@allow(*OFFICERS)
def release_page(release_id: str) -> str:
    service = release_service()
    release = service.get(release_id)
    return render_template(
        "comply/releases/page.html",
        release=release,
        campaign=service.campaign_of(release),
        lists=service.withdrawal_lists(release),
        withdrawn=service.withdrawn_subjects(release),
    )


@bp.post("/releases/<release_id>/verify")
@allow(*OFFICERS)
def release_verify(release_id: str) -> Response:
    service = release_service()
    try:
        check = service.prepare_verification(service.get(release_id))
        get_session().commit()  # the check takes seconds per photo: it must hold no transaction (SQLite's lock)
        report = service.record_verification(current_user.user, check, service.check_package(check))
    except ReleaseError as exc:
        get_session().rollback()
        flash(refusal_text(exc), "error")
        return redirect(url_for("comply.release_page", release_id=release_id))
    get_session().commit()
    if report["ok"]:
        flash(_("Verification passed."), "success")
    else:
        flash(_("Verification failed: %(n)d problem(s).", n=len(report["failures"])), "error")
    return redirect(url_for("comply.release_page", release_id=release_id))


@bp.post("/releases/<release_id>/approve")
@allow(*OFFICERS)
def release_approve(release_id: str) -> Response:
    service = release_service()
    release = service.get(release_id)
    # approval lets the package leave: the page says what it makes downloadable, the officer's tick agrees (a
    # release that cannot be approved gets the service's reason instead)
    if release.state is ReleaseState.VERIFIED and request.form.get("confirm") != "y":
        flash(_("Nothing was approved: tick the box to confirm what approval makes downloadable."), "error")
        return redirect(url_for("comply.release_page", release_id=release_id, _anchor="approve"))
    try:
        service.approve(current_user.user, release)
    except ReleaseError as exc:
        flash(refusal_text(exc), "error")
    else:
        get_session().commit()
        flash(_("Release approved. Each download is recorded."), "success")
    return redirect(url_for("comply.release_page", release_id=release_id))


@bp.post("/releases/<release_id>/download")
@allow(*OFFICERS)
def release_download(release_id: str) -> Response:
    service = release_service()
    try:
        package = service.download(current_user.user, service.get(release_id))
    except ReleaseError as exc:
        flash(refusal_text(exc), "error")
        return redirect(url_for("comply.release_page", release_id=release_id))
    try:
        get_session().commit()  # the audit event of this download stands before a byte leaves
    except BaseException:
        package.file.close()
        raise
    # the response closes the file once it is sent
    resp = send_file(package.file, as_attachment=True, download_name=package.name,
                     mimetype="application/octet-stream")
    resp.content_length = package.size
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/releases/<release_id>/withdrawals/<int:sequence>")
@allow(*OFFICERS)
def release_withdrawal_list(release_id: str, sequence: int) -> Response:
    service = release_service()
    found = [w for w in service.withdrawal_lists(service.get(release_id)) if w.sequence == sequence]
    if not found:
        raise NotFound("withdrawal list", f"{release_id}#{sequence}")
    resp = Response(found[0].document_bytes, mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="withdrawals-{release_id}-{sequence}.json"'
    return resp
