"""The error tree: every failure a client can see, with its HTTP status and Bandwidth `type`.

    SwitchboardError                      500 internal-error
    ├── ValidationError                   400 validation
    │   ├── NotFoundError                 404 validation
    │   ├── MethodNotAllowedError         405 validation
    │   ├── ConflictError                 409 validation
    │   ├── PayloadTooLargeError          413 validation
    │   └── UnsupportedMediaTypeError     415 validation
    ├── AuthenticationError               401 authentication-error
    ├── AuthorizationError                403 authorization-error
    ├── RateLimitError                    429 error
    └── UnavailableError                  503 system-overloaded
        └── OverloadedError               503 system-overloaded, with Retry-After

The API renders each one as Bandwidth does: `{"type", "description", "id"}`.
"""

from __future__ import annotations


class SwitchboardError(Exception):
    """Root of every error the API renders. Unexpected exceptions become one of these."""

    status: int = 500
    type: str = "internal-error"
    # Bandwidth's bodies carry "id": null, except 409 and 429 whose examples show "id": "".
    default_id: str | None = None

    def __init__(self, description: str = "An unknown internal error occurred") -> None:
        super().__init__(description)
        self.description = description

    def headers(self) -> dict[str, str]:
        """Extra response headers this error carries (e.g. Retry-After)."""
        return {}


class ValidationError(SwitchboardError):
    status = 400
    type = "validation"


class NotFoundError(ValidationError):
    status = 404


class MethodNotAllowedError(ValidationError):
    status = 405

    def __init__(self, description: str = "Method Not Allowed") -> None:
        super().__init__(description)


class ConflictError(ValidationError):
    status = 409
    default_id = ""


class PayloadTooLargeError(ValidationError):
    status = 413


class UnsupportedMediaTypeError(ValidationError):
    status = 415


class AuthenticationError(SwitchboardError):
    status = 401
    type = "authentication-error"

    def __init__(self, description: str = "The credentials provided were invalid") -> None:
        super().__init__(description)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="Switchboard Voice API"'}


class AuthorizationError(SwitchboardError):
    status = 403
    type = "authorization-error"

    def __init__(self, description: str = "Access is denied") -> None:
        super().__init__(description)


class RateLimitError(SwitchboardError):
    status = 429
    type = "error"
    default_id = ""

    def __init__(self, description: str, retry_after_seconds: int = 1) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class SharedRateLimited(RateLimitError):
    """Several nodes: the account's calls-per-second, kept in the database, refused to place a
    call now; with the account's queue on, the call waits in it (calls/service.py)."""


class UnavailableError(SwitchboardError):
    status = 503
    type = "system-overloaded"


class OverloadedError(UnavailableError):
    """The node is full or falling behind (limits/overload.py): try again in a moment."""

    def __init__(self, description: str, retry_after_seconds: int = 1) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}
