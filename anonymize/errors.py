"""The exception tree of anonymize.

Every error carries the data that explains it (never an HTTP status); callers map them to responses or exit
codes in one place. A scrubber never passes an input through unchanged: anything it cannot rebuild from pixels
or samples is refused with one of the `MediaError` subclasses, whose `code` is a stable reason and whose
message is fit to show to an operator. A *verification* that finds problems does not raise: it returns a
report listing the failures. Exceptions are for inputs that cannot be examined at all.

    AnonymizeError
    +-- MediaError                 bytes cannot be scrubbed (refused, never passed through)
    |   +-- UnsupportedFormat      not one of the accepted image or audio formats
    |   +-- TooLarge               bytes, pixels, a dimension or a duration over the limit
    |   |   +-- DecompressionBomb  header claims more pixels than allowed (refused before decoding)
    |   +-- CorruptMedia           truncated or malformed data, or no usable image/audio stream
    +-- ModelUnavailable           a face model failed to load
    +-- ToolUnavailable            an optional outside tool (exiftool) is not installed or failed to run
    +-- KAnonymityError            invalid k-anonymity input (k, quasi-identifier, hierarchy)
    +-- PackageError               a release package cannot be written as asked
    |   +-- UnscrubbedMedia        media handed to the writer still carries metadata outside the allow-list
    |   +-- DuplicateItem          the same item id added twice
    +-- ReleaseFormatError         a package, manifest or withdrawal list is malformed
    +-- SignatureError             a signature does not verify or names an unknown key
"""

from __future__ import annotations


class AnonymizeError(Exception):
    """Base class of every error raised by anonymize.

    Picklable whatever a subclass's constructor takes, so an error raised in a worker process reaches the
    caller as itself (not as a broken process pool): rebuilt from its message and attributes.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type[AnonymizeError], args: tuple[object, ...], state: dict[str, object]) -> AnonymizeError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class MediaError(AnonymizeError):
    """The bytes could not be scrubbed; `code` is a stable reason code, `detail` a human sentence."""

    code = "corrupt"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedFormat(MediaError):
    """Not an accepted format; `detected` names what the data looks like (or None), `allowed` the list."""

    code = "unsupported_format"

    def __init__(self, detected: str | None, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{detected or 'unrecognised data'} is not accepted (accepted: {', '.join(allowed)})")
        self.detected = detected
        self.allowed = allowed


class TooLarge(MediaError):
    """A size (`what` = "bytes", "pixels", "width", "height" or "seconds") exceeds its limit."""

    code = "too_large"

    def __init__(self, what: str, value: float, limit: float) -> None:
        super().__init__(f"{what} {value:g} exceeds the limit of {limit:g}")
        self.what = what
        self.value = value
        self.limit = limit


class DecompressionBomb(TooLarge):
    """The header claims more pixels than allowed; refused before any pixel is decoded."""

    code = "decompression_bomb"

    def __init__(self, value: int, limit: int) -> None:
        super().__init__("pixels", value, limit)


class CorruptMedia(MediaError):
    """Truncated or malformed data, or a container without a usable image or audio stream."""

    code = "corrupt"


class ModelUnavailable(AnonymizeError):
    """A face model could not be loaded (`model` names it)."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"{model}: {detail}")
        self.model = model
        self.detail = detail


class ToolUnavailable(AnonymizeError):
    """The optional outside tool `tool` is not installed or did not run (`detail` says why)."""

    def __init__(self, tool: str, detail: str) -> None:
        super().__init__(f"{tool}: {detail}")
        self.tool = tool
        self.detail = detail


class KAnonymityError(AnonymizeError, ValueError):
    """k-anonymisation was asked something impossible; `field` names the offending input."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class PackageError(AnonymizeError):
    """A release package cannot be written as asked."""


class UnscrubbedMedia(PackageError):
    """Media for `item_id` still carries metadata outside the allow-list (`tags` names them)."""

    def __init__(self, item_id: str, tags: tuple[str, ...]) -> None:
        super().__init__(f"item {item_id}: metadata outside the allow-list: {', '.join(tags)}")
        self.item_id = item_id
        self.tags = tags


class DuplicateItem(PackageError):
    """The item id `item_id` was added to the package twice."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} added twice")
        self.item_id = item_id


class ReleaseFormatError(AnonymizeError):
    """A package, manifest or withdrawal list is malformed; `where` names the file or field. `code` is a stable
    reason (``no_such_package``, ``not_a_package``, else ``malformed``) and `cause` the message of the library
    error behind it, if any."""

    def __init__(self, where: str, problem: str, *, code: str = "malformed", cause: str | None = None) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
        self.code = code
        self.cause = cause


class SignatureError(AnonymizeError):
    """A signature does not verify, or it names a key id not among the trusted public keys. `code` is a stable
    reason: ``unknown_key``, ``bad_signature`` or ``unreadable_key``."""

    def __init__(self, key_id: str, problem: str, *, code: str = "bad_signature") -> None:
        super().__init__(f"key {key_id!r}: {problem}")
        self.key_id = key_id
        self.problem = problem
        self.code = code
