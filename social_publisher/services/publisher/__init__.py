"""Publishing exactly once, one module per step; :class:`Publisher` is their front.

Neither platform has an idempotency key, so every call that creates something
follows one discipline (docs/architecture.md "Exactly once"):

1. *claim*: ``store.lifecycle.claim``, a conditional ``UPDATE`` checked by row
   count, so two workers never hold the same publication;
2. a committed attempt row (:mod:`.ledger`: action, worker, content hash, start);
3. the call (:mod:`.publish`, :mod:`.remote_schedule`, :mod:`.broadcast`);
4. the committed result: the attempt's outcome and the publication's new state
   in one transaction (:mod:`.outcomes`, with the failure policy).

A create that got no trustworthy answer (an unknown outcome, Facebook's 506
duplicate) is never retried blindly: the publication stays ``publishing`` and
:mod:`.reconcile` looks for the post on the platform and adopts it if found;
only a settled "not there" leads to a retry. A crash anywhere leaves the same
evidence (a ``publishing`` row, an attempt without outcome), reconciled the same
way once the lease has expired, or at once for the single SQLite daemon.

The steps, in the order a pass runs them: :mod:`.reconcile`, :mod:`.remote_schedule`
(Facebook's scheduled posts follow edits and withdrawals), :mod:`.publish`
(hand to Facebook's scheduler, then publish what is due; every create is preceded
by a look on the platform, :mod:`.lookup`), :mod:`.confirm`,
:mod:`.broadcast`; :mod:`.wakeup` says when the next pass is needed. Every step
walks its publications through the one loop :meth:`PublishContext.candidates`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...channels.base import OutgoingPost
from ...store import Publication
from .broadcast import broadcast as _broadcast
from .confirm import confirm as _confirm
from .context import PublishContext, StepResult
from .outgoing import DEFAULT_COVER, ContentChanged, RenderFn
from .publish import publish_due as _publish_due
from .publish import schedule_remote as _schedule_remote
from .reconcile import reconcile as _reconcile
from .remote_schedule import sync_remote as _sync_remote
from .wakeup import next_wakeup as _next_wakeup

__all__ = [
    "DEFAULT_COVER",
    "ContentChanged",
    "Publisher",
    "RenderFn",
    "StepResult",
]


class Publisher(PublishContext):
    """Drives publications through the lifecycle for one worker (``daemon.run_pass``).

    Each step is a function of the context in its own module; here it becomes a method.
    """

    reconcile = _reconcile
    sync_remote = _sync_remote
    schedule_remote = _schedule_remote
    publish_due = _publish_due
    confirm = _confirm
    broadcast = _broadcast
    next_wakeup = _next_wakeup

    def outgoing(
        self, session: Session, pub: Publication, *, with_images: bool = True
    ) -> OutgoingPost:
        """Exactly the approved version, rendered for this channel."""
        return self.builder.build(session, pub, with_images=with_images)
