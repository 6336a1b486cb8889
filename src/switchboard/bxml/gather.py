"""One <Gather> in progress, as a pure sub-machine: prompts, digits and the two timeouts.

Following gather.mdx, a gather ends when:
- a terminating digit is pressed (it is reported as terminatingDigit, not among the digits);
- maxDigits digits have been pressed;
- at least one digit was pressed and interDigitTimeout passed without another;
- the prompts finished and firstDigitTimeout passed without a digit, repeatCount times over
  (the prompts are replayed after each silent firstDigitTimeout, so the delay between
  repetitions is firstDigitTimeout, as the docs say).
A digit pressed during a prompt stops that prompt, and no prompt is played after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .actions import Action, CancelTimer, StartTimer, StopMedia, play_prompt
from .verbs import Gather


@dataclass(frozen=True, slots=True)
class GatherResult:
    digits: str
    terminating_digit: str


class Phase(Enum):
    PROMPTING = "prompting"  # a prompt is playing; waiting for MediaFinished or a digit
    LISTENING = "listening"  # a first-digit or inter-digit timer is running
    DONE = "done"


class GatherRun:
    """Drives one Gather. Each method returns the actions to take; once `result` is set the
    gather is over and the interpreter decides what comes next."""

    def __init__(self, verb: Gather, timer_prefix: str) -> None:
        self.verb = verb
        self.result: GatherResult | None = None
        self.phase = Phase.PROMPTING
        self._timer_prefix = timer_prefix
        self._timers_started = 0
        self._timer: str | None = None
        self._digits = ""
        self._round = 1
        self._prompt = 0

    def start(self) -> list[Action]:
        return self._play_prompts()

    def media_finished(self) -> list[Action]:
        if self.phase is not Phase.PROMPTING:
            return []
        self._prompt += 1
        if self._prompt < len(self.verb.prompts):
            return [play_prompt(self.verb.prompts[self._prompt])]
        return self._listen("first-digit", self.verb.first_digit_timeout)

    def digit(self, digit: str) -> list[Action]:
        if self.phase is Phase.DONE:
            return []
        actions: list[Action] = [StopMedia()] if self.phase is Phase.PROMPTING else []
        actions += self._cancel_timer()
        if digit in self.verb.terminating_digits:
            return actions + self._finish(terminating_digit=digit)
        self._digits += digit
        if len(self._digits) >= self.verb.max_digits:
            return actions + self._finish()
        return actions + self._listen("inter-digit", self.verb.inter_digit_timeout)

    def timer_fired(self, timer_id: str) -> list[Action]:
        # A timer we cancelled may still fire if the engine raced us: only the armed one counts.
        if self.phase is not Phase.LISTENING or timer_id != self._timer:
            return []
        self._timer = None
        if not self._digits and self._round < self.verb.repeat_count and self.verb.prompts:
            self._round += 1
            return self._play_prompts()
        return self._finish()

    def interrupt(self) -> list[Action]:
        """Abandon the gather (new BXML replaced it): stop its prompt and its timer."""
        actions: list[Action] = [StopMedia()] if self.phase is Phase.PROMPTING else []
        actions += self._cancel_timer()
        self.phase = Phase.DONE
        return actions

    def _play_prompts(self) -> list[Action]:
        if not self.verb.prompts:
            return self._listen("first-digit", self.verb.first_digit_timeout)
        self.phase = Phase.PROMPTING
        self._prompt = 0
        return [play_prompt(self.verb.prompts[0])]

    def _listen(self, kind: str, seconds: float) -> list[Action]:
        self.phase = Phase.LISTENING
        self._timers_started += 1
        self._timer = f"{self._timer_prefix}:{kind}:{self._timers_started}"
        return [StartTimer(self._timer, seconds)]

    def _cancel_timer(self) -> list[Action]:
        if self._timer is None:
            return []
        timer, self._timer = self._timer, None
        return [CancelTimer(timer)]

    def _finish(self, terminating_digit: str = "") -> list[Action]:
        self.phase = Phase.DONE
        self.result = GatherResult(self._digits, terminating_digit)
        return []
