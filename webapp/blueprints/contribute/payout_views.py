"""The contributor's payout account: the bank account their earnings are transferred to. The saved account is
shown with the number masked but its last four digits; changing it means typing the whole number again (the
form never echoes a saved number back into the page)."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from collection.accounts import Role
from collection.errors import InvalidPayoutAccount
from collection.payments.banks import BY_CODE, masked
from webapp.access import allow
from webapp.blueprints.contribute.payout_forms import PayoutAccountForm
from webapp.blueprints.contribute.views import bp
from webapp.db import get_session
from webapp.services import payments


def _page(form: PayoutAccountForm, status: int = 200) -> tuple[str, int]:
    account = payments().payout_account(current_user.user)
    html = render_template(
        "contribute/payout.html",
        form=form,
        account=account,
        bank=BY_CODE.get(account.bank_code) if account else None,
        masked_number=masked(account.account_number) if account else "",
    )
    return html, status


@bp.get("/payout")
@allow(Role.CONTRIBUTOR)
def payout_page() -> tuple[str, int]:
    form = PayoutAccountForm(formdata=None)
    account = payments().payout_account(current_user.user)
    if account is not None:
        form.bank.data, form.holder_name.data = account.bank_code, account.holder_name
    return _page(form)


@bp.post("/payout")
@allow(Role.CONTRIBUTOR)
def payout_save() -> Response | tuple[str, int]:
    form = PayoutAccountForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        payments().save_payout_account(
            current_user.user, form.bank.data, form.holder_name.data or "", form.account_number.data or ""
        )
    except InvalidPayoutAccount as exc:  # the form's shape checks make this rare; say which field
        getattr(form, exc.field).errors.append(_("Check this field and try again."))
        return _page(form, 400)
    get_session().commit()
    flash(_("Your payout account was saved."), "success")
    return redirect(url_for("contribute.payout_page"))
