"""The runner's part in calls with many legs (DESIGN.md): <Transfer> and <Bridge>, which this
call owns, the rooms it opens for them and for <Forward>, <Forward>'s second leg of this same
call, and this call's side when it is another call's transfer or bridge target.

Separate from calls/runner.py because it is one concept with its own pure cores
(calls/transfer.py, calls/bridge.py decide; this carries out their effects), and it touches
the rest of the runner only through the attributes and methods LegsRole declares below.
CallRunner inherits it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.bxml import actions as act
from switchboard.bxml import events as bxml_events
from switchboard.bxml.attributes import PRIVATE_CALLER_IDS
from switchboard.bxml.interpreter import Interpreter
from switchboard.bxml.verbs import Bridge as BridgeVerb
from switchboard.bxml.verbs import Document, Transfer
from switchboard.bxml.verbs import Forward as ForwardVerb
from switchboard.calls import bridge, state, transfer
from switchboard.calls.bridge import Message as BridgeMessage
from switchboard.calls.model import ANSWERED, DISCONNECTED, INITIATED, Call
from switchboard.calls.runner_messages import (
    BridgeRequest,
    EngineServices,
    ForwardLegEvent,
    ForwardTimeout,
    Joined,
    OwnerLeft,
    RunnerEvent,
    TransferGo,
    _id,
)
from switchboard.calls.transfer import Message as TransferMessage
from switchboard.calls.transfer_targets import caller_id_for, diversion_header
from switchboard.clock import Clock, TimerHandle
from switchboard.network import base as net
from switchboard.webhooks import payloads
from switchboard.webhooks.outbox import OutboxEntry

# Bandwidth cancels a call that has not started ringing within 30 s, whatever callTimeout says.
RING_START_LIMIT = 30.0


class LegsRole:
    """A call's transfers, bridges, forwards and rooms (the call that runs the verb owns them)."""

    # The runner's, set by CallRunner.__init__: what this role reads and changes.
    call: Call
    services: EngineServices
    interpreter: Interpreter | None
    _bxml_token: int
    # (In this class's body `transfer` and `bridge` name these attributes, not the modules:
    # the methods' annotations say TransferMessage and BridgeMessage.)
    transfer: transfer.Transfer | None
    _transfer_to: dict[str, str]
    _transfer_caller_id: str | None
    parent_call_id: str | None
    _left_transfer: bool
    bridge: bridge.Bridge | None
    bridged_to: tuple[str, BridgeVerb] | None
    forward_leg: net.Leg | None
    _forward_answered: bool
    _forward_call_timeout: float
    _forward_timer: TimerHandle | None
    room: net.Room | None

    if TYPE_CHECKING:
        # The runner's own methods this role calls (CallRunner and its roles define them).
        @property
        def clock(self) -> Clock: ...

        def post(self, event: RunnerEvent) -> None: ...

        def note(self, kind: str, **data: Any) -> None: ...

        async def _save(self, event: OutboxEntry | None = None) -> int | None: ...

        async def _end(self, end: state.End) -> None: ...

        async def _interpret(self, event: bxml_events.Event) -> None: ...

        async def _carry_out(
            self, actions: list[act.Action], *, interrupted: bool = False
        ) -> None: ...

        async def _answer_inbound(self) -> None: ...

        async def _first_callback(self, event_type: str, payload: dict[str, Any]) -> None: ...

    # -- <Transfer>: this call owns it (calls/transfer.py decides) ----------------------------
    async def _start_transfer(self, verb: Transfer) -> None:
        if await self._refused_without_rooms("Transfer"):
            return
        start_targets = self.services.start_targets
        started: list[tuple[str, str]] = []
        refused: list[str] = []
        if start_targets is not None:
            tag = self.interpreter.tag if self.interpreter is not None else self.call.tag
            started, refused = await start_targets(self.call, verb, tag)
        self._transfer_to = dict(started)
        self._transfer_caller_id = caller_id_for(self.call, verb)
        self.note(
            "transfer",
            event="started",
            targets=[{"callId": c, "to": to} for c, to in started],
            **({"refused": refused} if refused else {}),
        )
        if started:
            self.transfer = transfer.start(tuple(call_id for call_id, _ in started))
            return
        # Nobody could be rung (rateLimits.mdx: the reason goes to transferComplete).
        message = "; ".join(refused) or "no target could be rung"
        await self._interpret(
            bxml_events.TransferFinished(
                "account-limit" if refused else "error",
                verb.targets[0].destination if verb.targets else None,
                self._transfer_caller_id,
                message,
                _id(),
            )
        )

    async def _transfer_step(self, message: TransferMessage) -> None:
        if self.transfer is None:
            return  # the transfer is over: a late message from one of its targets
        self.transfer, effects = transfer.step(self.transfer, message)
        for effect in effects:
            match effect:
                case transfer.Proceed(target=target):
                    self.services.post(target, TransferGo())
                case transfer.EndTarget(target=target, cause=cause):
                    self.services.post(target, state.End(cause))
                case transfer.Join(target=target):
                    self._open_room((self.call.call_id, target))
                    self.note("transfer", event="joined", callId=target)
                    self.services.post(target, Joined(self.call.call_id))
                case transfer.Finished():
                    self._close_room()
                    self.transfer = None
                    self.note("transfer", event="finished", cause=effect.cause)
                    await self._interpret(
                        bxml_events.TransferFinished(
                            effect.cause,
                            self._transfer_to.get(effect.target or ""),
                            self._transfer_caller_id,
                            effect.error_message,
                            effect.error_id,
                        )
                    )

    def _abandon_transfer(self) -> None:
        """This call ends, or new BXML replaced its <Transfer>: end the targets still up."""
        if self.transfer is None:
            return
        self.transfer, effects = transfer.step(self.transfer, transfer.Abandon())
        self.transfer = None
        self._close_room()
        for effect in effects:
            if isinstance(effect, transfer.EndTarget):
                self.services.post(effect.target, state.End(effect.cause))

    # -- rooms: legs that hear each other (this call opened it, so this call closes it) ------
    async def _refused_without_rooms(self, verb: str) -> bool:
        """A network that cannot join legs ends the call before a verb that joins two rings
        anyone: a party who could never be heard is worse than saying so."""
        if self.services.network.joins_legs:
            return False
        message = f"Verb <{verb}> is not supported on this network: it cannot join two legs"
        await self._end(state.End("application-error", message, _id()))
        return True

    def _open_room(self, leg_ids: tuple[str, ...]) -> None:
        self._close_room()
        self.room = self.services.network.open_room(leg_ids)

    def _close_room(self) -> None:
        if self.room is not None:
            self.room.close()
            self.room = None

    # -- <Forward>: a second leg of this same call ---------------------------------------------
    async def _start_forward(self, verb: ForwardVerb) -> None:
        if self.call.direction != "inbound":
            message = "Verb <Forward> forwards an inbound call; this call is outbound"
            await self._end(state.End("application-error", message, _id()))
            return
        if await self._refused_without_rooms("Forward"):
            return
        caller_id = verb.from_ or self.call.request.to  # forward.mdx: the original leg's "to"
        self.note("forward", event="started", to=verb.to, **{"from": caller_id})
        caller = net.CallerId(
            None,
            caller_id in PRIVATE_CALLER_IDS,
            verb.uui,
            diversion_header(self.call, verb.diversion_treatment, verb.diversion_reason),
        )
        self.services.count_start(self.call.account_id)
        self.forward_leg = self.services.network.originate(
            f"{self.call.call_id}/forward",
            verb.to,
            caller_id,
            lambda event: self.post(ForwardLegEvent(event)),
            caller,
        )
        self._forward_call_timeout = verb.call_timeout
        self._forward_timer = self.clock.call_later(
            RING_START_LIMIT, lambda: self.post(ForwardTimeout())
        )

    async def _forward_leg_event(self, event: net.LegEvent) -> None:
        if self.forward_leg is None or self.call.state == DISCONNECTED:
            return
        match event:
            case net.Ringing():
                self.note("forward", event="ringing")
                if self._forward_timer is not None:
                    self._forward_timer.cancel()
                self._forward_timer = self.clock.call_later(
                    float(self._forward_call_timeout), lambda: self.post(ForwardTimeout())
                )
            case net.Answered():
                if self._forward_timer is not None:
                    self._forward_timer.cancel()
                    self._forward_timer = None
                self._forward_answered = True
                self.note("forward", event="answered")
                await self._answer_inbound()  # the caller is connected to the forward target
                self._open_room((self.call.call_id, f"{self.call.call_id}/forward"))
                self.note("forward", event="joined")
            case net.Busy():
                self.forward_leg = None
                await self._end(state.End("busy", "Callee is busy", _id()))
            case net.Rejected():
                self.forward_leg = None
                await self._end(state.End("rejected"))
            case net.NoAnswer():
                self.forward_leg = None
                await self._end(state.End("timeout"))
            case net.Failed(reason=reason):
                self.forward_leg = None
                await self._end(state.End("error", f"Forwarding failed: {reason}", _id()))
            case net.RemoteHangup():
                self.forward_leg = None
                self.note("forward", event="hangup")
                await self._end(state.End("hangup"))

    # -- <Bridge>: this call owns it (calls/bridge.py decides) --------------------------------
    async def _start_bridge(self, verb: BridgeVerb) -> None:
        if await self._refused_without_rooms("Bridge"):
            return
        target = verb.target_call
        self.bridge = bridge.Bridge(target)
        self.note("bridge", event="requested", callId=target)
        request = BridgeRequest(self.call.call_id, self.call.account_id, verb)
        if target == self.call.call_id or not self.services.post(target, request):
            reason = (
                "a call cannot bridge itself"
                if target == self.call.call_id
                else f"call {target} is not a live call (it has ended, or never existed)"
            )
            await self._bridge_step(bridge.Refused(target, reason))

    async def _bridge_step(self, message: BridgeMessage) -> None:
        if self.bridge is None:
            return
        self.bridge, effects = bridge.step(self.bridge, message)
        for effect in effects:
            match effect:
                case bridge.Joined(target=target):
                    self._open_room((self.call.call_id, target))
                    self.note("bridge", event="joined", callId=target)
                case bridge.TellOwnerLeft(target=target):
                    self.services.post(target, OwnerLeft(self.call.call_id))
                case bridge.Finished(cause=cause, error_message=text):
                    self._close_room()
                    self.bridge = None
                    self.note("bridge", event="finished", cause=cause)
                    await self._interpret(
                        bxml_events.BridgeFinished(cause, text, _id() if text else None)
                    )

    def _leave_bridge(self) -> None:
        """This call hangs up or gets new BXML while its <Bridge> runs."""
        if self.bridge is not None:
            self.bridge, effects = bridge.step(self.bridge, bridge.Leave())
            self.bridge = None
            self._close_room()
            for effect in effects:
                if isinstance(effect, bridge.TellOwnerLeft):
                    self.services.post(effect.target, OwnerLeft(self.call.call_id))

    def _bridge_gone_reason(self) -> str:
        return f"call {self.call.call_id} has ended"

    async def _bridge_requested(self, request: BridgeRequest) -> None:
        """Another call's <Bridge> names this one (bridge.mdx's rules for who can be bridged)."""
        reason = None
        if request.account_id != self.call.account_id:
            reason = f"call {self.call.call_id} is not a call of account {request.account_id}"
        elif self.call.state == DISCONNECTED:
            reason = self._bridge_gone_reason()
        elif self.call.state != ANSWERED and self.call.direction != "inbound":
            reason = f"call {self.call.call_id} is outbound and not answered yet"
        elif self.bridge is not None or self.bridged_to is not None:
            reason = f"call {self.call.call_id} is already bridged"
        elif self.transfer is not None or self.parent_call_id is not None:
            reason = f"call {self.call.call_id} is in a transfer"
        if reason is not None:
            self.services.post(request.owner, bridge.Refused(self.call.call_id, reason))
            return
        if self.call.state == INITIATED:  # an inbound call still ringing: answer it
            await self._answer_inbound()
        self._bxml_token += 1  # "any BXML being executed in it will be cancelled"
        if self.interpreter is None:
            self.interpreter = Interpreter(Document(verbs=()), tag=self.call.tag)
        await self._carry_out(self.interpreter.suspend(), interrupted=True)
        self.bridged_to = (request.owner, request.verb)
        self.note("bridge", event="joined", callId=request.owner)
        self.services.post(request.owner, bridge.Accepted(self.call.call_id))

    async def _owner_left(self, owner: str) -> None:
        """The call that bridged this one left: bridgeTargetComplete's BXML runs here, or,
        without that URL, this call hangs up (bridge.mdx)."""
        if self.bridged_to is None or self.bridged_to[0] != owner:
            return
        verb = self.bridged_to[1]
        self.bridged_to = None
        self.note("bridge", event="finished", callId=owner)
        if verb.bridge_target_complete_url is None or self.interpreter is None:
            await self._end(state.End("hangup"))
            return
        callback = act.SendCallback(
            event_type="bridgeTargetComplete",
            url=verb.bridge_target_complete_url,
            method=verb.bridge_target_complete_method,
            fallback_url=verb.bridge_target_complete_fallback_url,
            fallback_method=verb.bridge_target_complete_fallback_method,
            username=verb.username,
            password=verb.password,
            fallback_username=verb.fallback_username,
            fallback_password=verb.fallback_password,
            fields=self.interpreter.fields(),
            expects_bxml=True,
        )
        await self._carry_out(self.interpreter.await_callback(callback))

    # -- this call is another call's transfer or bridge target ------------------------------
    async def _target_answered(self, parent: str) -> None:
        """A transfer target answered: it tells its parent and waits to hear it won."""
        await self._save()
        self.services.post(parent, transfer.TargetAnswered(self.call.call_id))

    async def _transfer_go(self) -> None:
        """This target won: it runs its transferAnswer BXML (on itself alone) or, without one,
        is ready to be joined at once."""
        parent = self.parent_call_id
        if parent is None or self.call.state != ANSWERED or self.interpreter is not None:
            return
        if not self.call.request.answer_url:
            self.services.post(parent, transfer.TargetReady(self.call.call_id))
            return
        payload = payloads.transfer_answer_payload(self.call, self.clock.wall())
        await self._first_callback("transferAnswer", payload)

    def _leave_transfer_as_target(self) -> None:
        """This transfer target gets new BXML (updateCall, PUT /bxml): it leaves the transfer,
        which is then over for the call that rang it (as if the target had hung up), and its
        new document ends the call when it runs out, like any call's."""
        if self.parent_call_id is None or self._left_transfer:
            return
        self._left_transfer = True
        self.note("transfer", event="left", callId=self.parent_call_id)
        self.services.post(self.parent_call_id, transfer.TargetEnded(self.call.call_id, "hangup"))
        if self.interpreter is not None:
            self.interpreter.hang_up_at_end()

    def _leave_bridge_as_target(self) -> None:
        """This bridge target hangs up or gets new BXML: the bridge's owner is told."""
        if self.bridged_to is not None:
            owner = self.bridged_to[0]
            self.bridged_to = None
            self.services.post(owner, bridge.PeerLeft(self.call.call_id))
