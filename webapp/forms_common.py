"""Small pieces shared by the forms of several blueprints."""

from __future__ import annotations

from wtforms import SelectChoice

LANGUAGE_CHOICES = [SelectChoice("ko", "한국어"), SelectChoice("en", "English")]
