"""The registry submission activity, run after a treatment and after each follow-up visit."""

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from registry.config import RegistryConfigError, RegistrySettings
from registry.submission import (
    HttpTransport,
    SubmissionError,
    SubmissionInProgress,
    SubmissionResult,
    Transport,
    submit_if_changed,
)


class RegistrySubmissionInput(BaseModel):
    """Which pathway's record to (re)submit; fields may be added later."""

    pathway_id: str


class RegistryActivities:
    """Registry submission bound to one read model (sync: sqlmodel sessions and httpx block).

    With no registry URL configured and no transport given, submission is off and the
    activity reports ``disabled`` without touching the registry.
    """

    def __init__(
        self,
        engine: Engine,
        settings: RegistrySettings | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings or RegistrySettings()
        if transport is None and self._settings.url:
            transport = HttpTransport(self._settings.url, self._settings.timeout_seconds)
        self._transport = transport

    @activity.defn(name="submit_registry_record")
    def submit_registry_record(self, inp: RegistrySubmissionInput) -> SubmissionResult:
        """Submit the pathway's record if it changed since the last version sent."""
        if self._transport is None:
            return SubmissionResult(pathway_id=inp.pathway_id, status="disabled")
        try:
            return submit_if_changed(self._engine, inp.pathway_id, self._transport, self._settings)
        except RegistryConfigError as exc:
            # Retrying cannot fix configuration.
            raise ApplicationError(
                str(exc), type="RegistryConfigError", non_retryable=True
            ) from exc
        except SubmissionInProgress as exc:
            raise ApplicationError(str(exc), type="SubmissionInProgress") from exc
        except SubmissionError as exc:
            raise ApplicationError(str(exc), type="SubmissionError") from exc
