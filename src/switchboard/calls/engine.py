"""The engine: drives every live call through the network, its BXML and its webhooks.

One `CallRunner` per call, each an asyncio task reading its own queue of events (network
events, timers, webhook results, API commands), so a call's events are handled one at a time
in order while thousands of calls run side by side. The decisions are made by the pure cores
(calls/state.py, bxml/interpreter.py); this module only carries out their actions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from switchboard.activity import Activity
from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, QUEUED, Call
from switchboard.calls.runner import CallRunner, EngineServices
from switchboard.calls.state import End
from switchboard.clock import Clock
from switchboard.network.base import Network
from switchboard.store.base import Store
from switchboard.webhooks.delivery import WebhookSender

logger = logging.getLogger("switchboard.engine")


class Engine:
    def __init__(
        self,
        store: Store,
        network: Network,
        sender: WebhookSender,
        clock: Clock,
        activity: Activity | None = None,
    ) -> None:
        self.services = EngineServices(
            store=store,
            network=network,
            sender=sender,
            clock=clock,
            activity=activity or Activity(),
            finished=self._finished,
        )
        self.runners: dict[str, CallRunner] = {}
        self._stopping = False

    @property
    def activity(self) -> Activity:
        return self.services.activity

    async def start(self) -> None:
        """Pick up the calls a previous run left behind."""
        for call in await self.services.store.calls_in_states((QUEUED, INITIATED, ANSWERED)):
            if call.state == QUEUED:
                self.launch(call)
            else:
                # The media of a live call does not survive a restart: end it, and say so.
                runner = self.launch(call, start=False)
                runner.post(
                    End(
                        "error",
                        "Switchboard restarted while the call was "
                        f"{'ringing' if call.state == INITIATED else 'answered'}; "
                        "its media was lost",
                    )
                )

    async def on_call_created(self, call: Call) -> None:
        self.launch(call)

    def launch(self, call: Call, *, start: bool = True) -> CallRunner:
        runner = CallRunner(call, self.services, dial=start)
        self.runners[call.call_id] = runner
        # Not counted as activity: a live call waiting for its next event is quiet.
        runner.task = asyncio.get_running_loop().create_task(runner.run())
        return runner

    def _finished(self, call_id: str) -> None:
        self.runners.pop(call_id, None)

    def is_quiet(self) -> bool:
        """No runner has an event waiting or being handled (for virtual-time tests)."""
        return all(runner.quiet for runner in self.runners.values())

    async def settle(self) -> None:
        """Wait until everything that can happen without time passing has happened."""
        await self.activity.wait_idle(self.is_quiet)

    async def stop(self, calls: Sequence[str] | None = None) -> None:
        self._stopping = True
        for runner in list(self.runners.values()):
            if runner.task is not None:
                runner.task.cancel()
        await asyncio.gather(
            *(r.task for r in self.runners.values() if r.task), return_exceptions=True
        )
        self.runners.clear()
        await self.services.network.close()

    def get(self, call_id: str) -> CallRunner | None:
        return self.runners.get(call_id)

    @staticmethod
    def is_live(call: Call) -> bool:
        return call.state != DISCONNECTED
