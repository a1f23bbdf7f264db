"""The exception tree of quality_gates.

Every error carries the data that explains it (never an HTTP status); the web layer maps them to responses in
one place. A gate that merely *fails* does not raise: it returns a failed `GateResult`. Exceptions are for
inputs the gates cannot examine at all (undecodable bytes, invalid rules) and for missing models.

    QualityGateError
    +-- RulesError                 campaign rules JSON is invalid (names the key)
    +-- ImageDecodeError           upload bytes cannot be turned into pixels safely
    |   +-- UnsupportedFormat      not one of the allowed formats
    |   +-- TooLarge               bytes, pixels or a dimension over the campaign limit
    |   +-- DecompressionBomb      header claims far more pixels than allowed (refused before decoding)
    |   +-- CorruptImage           truncated or malformed data
    +-- ModelUnavailable           a face model file is missing or failed to load
"""

from __future__ import annotations


class QualityGateError(Exception):
    """Base class of every error raised by quality_gates.

    Picklable whatever a subclass's constructor takes, so an error raised in a worker process reaches the
    caller as itself (not as a broken process pool): rebuilt from its message and attributes.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type[QualityGateError], args: tuple[object, ...], state: dict[str, object]) -> QualityGateError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class RulesError(QualityGateError, ValueError):
    """A rules mapping is invalid; `key` names the offending entry."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"rules[{key!r}]: {problem}")
        self.key = key
        self.problem = problem


class ImageDecodeError(QualityGateError):
    """The bytes could not be decoded into an image; `code` is a stable reason code."""

    code = "corrupt"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedFormat(ImageDecodeError):
    """The data is not in one of the allowed formats (`detected` is Pillow's guess, or None)."""

    code = "unsupported_format"

    def __init__(self, detected: str | None, allowed: tuple[str, ...]) -> None:
        super().__init__(f"format {detected or 'unknown'!s} not in {', '.join(allowed)}")
        self.detected = detected
        self.allowed = allowed


class TooLarge(ImageDecodeError):
    """A size (`what` = "bytes", "pixels", "width" or "height") exceeds its limit."""

    code = "too_large"

    def __init__(self, what: str, value: int, limit: int) -> None:
        super().__init__(f"{what} {value} exceeds limit {limit}")
        self.what = what
        self.value = value
        self.limit = limit


class DecompressionBomb(TooLarge):
    """The header claims more pixels than allowed; refused before any pixel is decoded."""

    code = "decompression_bomb"

    def __init__(self, value: int, limit: int) -> None:
        super().__init__("pixels", value, limit)


class CorruptImage(ImageDecodeError):
    """Truncated or malformed image data."""

    code = "corrupt"


class ModelUnavailable(QualityGateError):
    """A face model could not be loaded (`model` names it)."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"{model}: {detail}")
        self.model = model
        self.detail = detail
