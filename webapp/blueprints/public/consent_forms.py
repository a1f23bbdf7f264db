"""Public consent forms: uploading a receipt file to check it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import SubmitField

# A receipt is a few kilobytes; anything much larger is not one, and is refused before it is parsed.
MAX_RECEIPT_BYTES = 256 * 1024


class VerifyForm(FlaskForm):
    receipt = FileField(
        _l("Receipt file (.json)"),
        validators=[
            FileRequired(_l("Choose a receipt file.")),
            FileSize(max_size=MAX_RECEIPT_BYTES, message=_l("A receipt file is at most 256 KB.")),
        ],
    )
    submit = SubmitField(_l("Check the receipt"))

    def read_receipt(self) -> bytes:
        """The uploaded bytes, exactly as sent (a receipt must stay byte for byte what was signed)."""
        return self.receipt.data.read(MAX_RECEIPT_BYTES + 1)
