"""The operator's payment pages: accepted sets waiting for payment (one ledger entry each), payout batches, the
bank-transfer CSV of a batch (with each payee's bank account) and marking a batch paid. Entries whose
contributor has not saved a payout account wait outside the batches; the page says how many. Repeating the
export or the marking changes nothing: an entry is paid once (the payment service guarantees it; the pages say
so). An entry whose payee's account was erased is left out of the bank file and never marked paid; the pages say
how many and how much.

The CSV starts with a UTF-8 byte order mark so that Excel, which finance teams open it in, reads the payees'
Hangul names as UTF-8 instead of guessing a legacy code page.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role, User
from collection.errors import PaymentError
from collection.payments.models import PayoutBatch
from webapp.access import allow
from webapp.blueprints.operate.payment_forms import MarkPaidForm
from webapp.blueprints.operate.views import bp
from webapp.db import get_session
from webapp.i18n import krw
from webapp.services import payments

OPERATORS = (Role.OPERATOR, Role.ADMIN)
UTF8_BOM = "\ufeff"


@bp.get("/payments")
@allow(*OPERATORS)
def payments_home() -> str:
    service = payments()
    lines = service.lines(service.unbatched())
    return render_template(
        "operate/payments/index.html",
        lines=lines,
        total=sum(line.entry.amount_krw for line in lines),
        waiting=service.waiting_for_account(),
        owed_to_erased=service.owed_to_erased(),
        batches=service.batches(),
    )


@bp.post("/payments/batches")
@allow(*OPERATORS)
def payments_create_batch() -> Response:
    service = payments()
    try:
        batch = service.create_batch(current_user.user)
    except PaymentError:
        if service.waiting_for_account().entries:
            flash(_("Nothing to pay yet: the waiting entries need their contributors' bank accounts."), "warning")
        else:
            flash(_("Nothing to pay: every accepted set is already in a batch."), "warning")
        return redirect(url_for("operate.payments_home"))
    get_session().commit()
    flash(_("Batch %(ref)s created. Download its file for the bank transfer.", ref=batch.reference), "success")
    return redirect(url_for("operate.payments_batch", batch_id=batch.id))


@bp.get("/payments/batches/<batch_id>")
@allow(*OPERATORS)
def payments_batch(batch_id: str) -> str:
    return batch_page(payments().batch(batch_id), MarkPaidForm(formdata=None))


@bp.post("/payments/batches/<batch_id>/export")
@allow(*OPERATORS)
def payments_export(batch_id: str) -> Response:
    service = payments()
    batch = service.batch(batch_id)
    text = service.export_csv(current_user.user, batch)
    get_session().commit()
    resp = Response(UTF8_BOM + text, mimetype="text/csv")  # text/* is sent with "; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="datadam-payout-{batch.reference}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/payments/batches/<batch_id>/paid")
@allow(*OPERATORS)
def payments_mark_paid(batch_id: str) -> Response | tuple[str, int]:
    service = payments()
    batch = service.batch(batch_id)
    form = MarkPaidForm()
    if not form.validate_on_submit():
        return batch_page(batch, form), 400
    changed = service.mark_paid(current_user.user, batch)
    left = service.unpayable(batch)
    get_session().commit()
    if changed:
        flash(_("Marked paid: %(n)d entries.", n=changed), "success")
    elif not left.entries:
        flash(_("This batch was already paid: nothing changed."), "warning")
    if left.entries:
        flash(_("Not marked paid: %(n)d entries (%(total)s) have no payee, because the account was erased. "
                "They stay unpaid.", n=left.entries, total=krw(left.total_krw)), "warning")
    return redirect(url_for("operate.payments_batch", batch_id=batch.id))


def batch_page(batch: PayoutBatch, form: MarkPaidForm) -> str:
    service = payments()
    lines = service.lines(service.entries(batch))
    creator = get_session().get(User, batch.created_by)
    return render_template(
        "operate/payments/batch.html",
        batch=batch,
        lines=lines,
        form=form,
        creator=(creator.display_name or creator.email) if creator else "",
        unpaid=sum(1 for line in lines if line.entry.paid_at is None),
        unpayable=service.unpayable(batch),
    )
