"""The signal model: believable readings for every machine the simulator plays.

Pure Python, no Flask and no wall clock: a `Plant` is built from a seed and the machines'
metric definitions, and moves only when it is given a time (`plant.advance(now)`), in
steps of `TICK_SECONDS`. The same seed, machines and times give the same readings, so
tests step an hour in milliseconds.

How the metrics behave (each type's `normal_min`/`normal_max` is the normal band):

- the running flag (role `running`): machines run for 5–25 minutes, stop for 1–4, restart;
  a stopped machine's other values hold still (its temperature cools a little);
- temperatures (key with "temp" or a °C/°F unit) drift slowly inside the band; every few
  minutes one running machine overheats above `normal_max` for two to four minutes;
- vibration (key with "vibration") wanders low in the band and spikes above it now and then;
- the battery (role `battery`) drains while running and, once low (around `normal_min`,
  sometimes just under it), parks the machine to recharge to nearly full;
- the part counter (role `part_counter`) only counts up, and only while running;
- other numbers drift around a set point inside the band; other booleans are mostly false
  with short true spells; text metrics pick from a few words (`WORDS`);
- one machine (the "silent" one) stops answering for 2–4 minutes every 10–20 minutes.

A machine takes a new sample every 10–60 seconds and reports it until the next one, so a
reading fetched every few seconds often repeats the last one (change-only storage skips it).
"""

import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

TICK_SECONDS = 5
# How often (in ticks) a machine takes a new sample; one of these per machine.
SAMPLE_TICKS = (2, 3, 4, 6, 8, 12)
# A clock that jumped further than this (a suspended laptop) is not replayed tick by tick.
MAX_CATCH_UP_TICKS = 3600 // TICK_SECONDS

# Plausible words per text metric: (word, weight); the first word is the normal one.
WORDS = {
    "die_alignment": (("aligned", 97), ("misaligned", 3)),
    "status": (("pass", 95), ("fail", 5)),
    "navigation_status": (("en_route", 92), ("waiting", 6), ("rerouting", 2)),
}
FALLBACK_WORDS = (("normal", 95), ("warning", 5))
# A band for number metrics that define none.
DEFAULT_BANDS = {"feed_rate": (800.0, 2500.0), "coolant_flow_rate": (1500.0, 3000.0)}
FALLBACK_BAND = (0.0, 100.0)


@dataclass(frozen=True)
class MetricSpec:
    key: str
    kind: str = "number"              # number, boolean or text
    normal_min: float | None = None
    normal_max: float | None = None
    role: str | None = None           # battery, part_counter, running
    unit: str = ""


@dataclass(frozen=True)
class MachineSpec:
    code: str
    vendor_id: str
    metrics: tuple = ()


@dataclass(frozen=True)
class Reading:
    vendor_id: str
    ts: datetime
    values: dict

    @property
    def ts_text(self):
        return self.ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class UnknownMachine(KeyError):
    pass


def tick_of(now):
    return math.floor(now.timestamp() / TICK_SECONDS)


def is_temperature(metric):
    return metric.kind == "number" and ("temp" in metric.key or metric.unit in ("°C", "°F"))


def is_vibration(metric):
    return metric.kind == "number" and "vibration" in metric.key


def band_of(metric):
    """(low, high) of the normal band, with defaults for open or missing ends."""
    low, high = metric.normal_min, metric.normal_max
    if low is None and high is None:
        return DEFAULT_BANDS.get(metric.key, FALLBACK_BAND)
    if low is None:
        low = 0.0 if high > 0 else high - 10.0
    if high is None:
        high = low + max(abs(low), 10.0)
    if high <= low:
        high = low + max(abs(low) * 0.1, 1.0)
    return float(low), float(high)


def _rounder(low, high):
    """Round to about a thousandth of the band: 0.1 °C for 20–70, 10 rpm for 8000–15000."""
    exponent = math.floor(math.log10(high - low)) - 2
    if exponent >= 0:
        step = 10 ** exponent
        return lambda v: int(round(v / step) * step)
    return lambda v: round(v, -exponent)


# --- one signal per metric ---------------------------------------------------------------

class Signal:
    """A metric's hidden value, moved one tick at a time; `value()` is what is reported."""

    def __init__(self, metric, rng):
        self.metric, self.rng = metric, rng

    def step(self, machine):
        pass

    def value(self):
        raise NotImplementedError


class Drift(Signal):
    """A number wandering around a set point inside its band (mean-reverting)."""

    theta, sigma, point_range = 0.1, 0.015, (0.3, 0.7)

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.low, self.high = band_of(metric)
        self.width = self.high - self.low
        self.point = rng.uniform(*self.point_range)      # as a fraction of the band
        self.x = self.point + rng.gauss(0, 0.02)
        self.round = _rounder(self.low, self.high)

    def step(self, machine):
        if not machine.running:
            return                       # a stopped machine's values hold still
        self.x += self.theta * (self.point - self.x) + self.rng.gauss(0, self.sigma)
        self.x = min(max(self.x, 0.02), 0.98)   # plain numbers stay inside the band

    def value(self):
        return self.round(self.low + self.x * self.width)


class Temperature(Drift):
    """Slow drift; cools towards room temperature when stopped; overheats on cue."""

    theta, sigma, point_range = 0.05, 0.004, (0.4, 0.65)

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.overheat_to = None

    def target(self, machine):
        if self.overheat_to is not None:
            return self.overheat_to
        return self.point if machine.running else self.ambient

    @property
    def ambient(self):
        """Where a stopped machine cools to: the room (20 °C), kept inside the band."""
        room = 20.0 if self.metric.unit != "°F" else 68.0
        return min(max((room - self.low) / self.width, 0.05), 0.5)

    def step(self, machine):
        # The set point itself wanders a little, so the line is not flat.
        self.point = min(max(self.point + self.rng.gauss(0, 0.003), 0.35), 0.7)
        theta = self.theta
        if self.overheat_to is not None:
            theta = 0.25                 # heats up fast, crosses normal_max within ~30 s
        elif not machine.running:
            theta = 0.02                 # cools slowly
        self.x += theta * (self.target(machine) - self.x) + self.rng.gauss(0, self.sigma)
        self.x = min(max(self.x, 0.0), 1.5)


class Vibration(Drift):
    """Low in the band, with short spikes above it now and then while running."""

    theta, sigma, point_range = 0.2, 0.02, (0.15, 0.35)

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.spike_ticks, self.spike_level = 0, 0.0

    def step(self, machine):
        super().step(machine)
        if self.spike_ticks:
            self.spike_ticks -= 1
        elif machine.running and self.rng.random() < 1 / 360:   # about every 30 minutes
            # Long enough for at least one sample to catch it.
            self.spike_ticks = machine.sample_every + self.rng.randint(1, 3)
            self.spike_level = self.rng.uniform(1.15, 1.9)

    def value(self):
        if self.spike_ticks:
            return self.round(self.low + self.spike_level * self.width)
        return super().value()


class Battery(Signal):
    """Percent charge: drains while running; when low the machine parks and recharges."""

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.low, self.high = band_of(metric) if metric.normal_min is not None else (20.0, 100.0)
        self.full = min(self.high, 100.0) if self.high > self.low else 100.0
        self.level = rng.uniform(self.low + 0.3 * (self.full - self.low), self.full)
        self.drain = rng.uniform(0.12, 0.2)         # % per tick: empty in ~35–55 minutes
        self.charge = rng.uniform(0.6, 0.8)         # % per tick: full in ~10 minutes
        self.charging = False
        self._new_threshold()

    def _new_threshold(self):
        # Sometimes just under normal_min, so a low-battery alert has something to see.
        self.threshold = self.rng.uniform(self.low - 4, self.low + 6)
        self.charge_to = self.rng.uniform(self.full - 5, self.full)

    def step(self, machine):
        if self.charging:
            self.level = min(self.level + self.charge, self.full)
            if self.level >= self.charge_to:
                self.charging = False
                self._new_threshold()
        elif machine.running:
            self.level = max(self.level - self.drain * self.rng.uniform(0.7, 1.3), 0.0)
            if self.level <= self.threshold:
                self.charging = True

    def value(self):
        return round(self.level)


class Counter(Signal):
    """A part counter: only ever counts up, and only while the machine runs."""

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.count = rng.randint(1_000, 60_000)
        self.rate = rng.uniform(0.2, 1.5)           # parts per tick: 2–18 a minute
        self.progress = 0.0

    def step(self, machine):
        if not machine.running:
            return
        self.progress += self.rate * self.rng.uniform(0.6, 1.4)
        whole = int(self.progress)
        self.count += whole
        self.progress -= whole

    def value(self):
        return self.count


class Flag(Signal):
    """A boolean that is mostly false, with short true spells while running."""

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.ticks_left = 0

    def step(self, machine):
        if self.ticks_left:
            self.ticks_left -= 1
        elif machine.running and self.rng.random() < 0.04 / (machine.sample_every + 2):
            # True about 4% of the running time, each spell seen by at least one sample.
            self.ticks_left = machine.sample_every + self.rng.randint(0, 4)

    def value(self):
        return self.ticks_left > 0


class Words(Signal):
    """A text metric: the normal word, with short spells of another one now and then.

    Spells start at random, so each odd word is reported about its weight's share of the
    running time (a misaligned die stays so for half a minute or so, until it is fixed).
    """

    mean_spell = 5   # ticks

    def __init__(self, metric, rng):
        super().__init__(metric, rng)
        self.choices = WORDS.get(metric.key, FALLBACK_WORDS)
        self.normal = self.choices[0][0]
        self.odd = self.choices[1:]
        self.odd_share = sum(w for _, w in self.odd) / sum(w for _, w in self.choices)
        self.word, self.ticks_left = self.normal, 0

    def step(self, machine):
        if not machine.running:
            return
        if self.ticks_left:
            self.ticks_left -= 1
            if self.ticks_left:
                return
        self.word = self.normal
        # Spells last long enough for the machine's next sample to report them.
        spell = max(self.mean_spell, machine.sample_every)
        if self.odd and self.rng.random() < self.odd_share / spell / (1 - self.odd_share):
            words, weights = zip(*self.odd, strict=True)
            self.word = self.rng.choices(words, weights)[0]
            self.ticks_left = max(self.rng.randint(2, 2 * self.mean_spell - 2),
                                  machine.sample_every)

    def value(self):
        return self.word


class NavigationStatus(Words):
    """An AGV's navigation: waiting while parked or charging, rerouting round obstacles."""

    def step(self, machine):
        super().step(machine)
        if not machine.running:
            self.word, self.ticks_left = "waiting", 0
        elif machine.obstacle:
            self.word, self.ticks_left = "rerouting", 1
        elif self.word == "rerouting" and not self.ticks_left:
            self.word = self.normal


def signal_for(metric, rng):
    if metric.role == "battery":
        return Battery(metric, rng)
    if metric.role == "part_counter":
        return Counter(metric, rng)
    if metric.kind == "boolean":
        return Flag(metric, rng)
    if metric.kind == "text":
        return (NavigationStatus if metric.key == "navigation_status" else Words)(metric, rng)
    if is_temperature(metric):
        return Temperature(metric, rng)
    if is_vibration(metric):
        return Vibration(metric, rng)
    return Drift(metric, rng)


# --- a machine ---------------------------------------------------------------------------

class MachineModel:
    """One machine: whether it runs, its signals, and the sample it reports."""

    def __init__(self, spec, seed, tick):
        self.spec = spec
        self.rng = random.Random(f"{seed}/{spec.vendor_id}")
        # A new sample every 10–60 s: a gateway that polls its PLC, not a live wire.
        self.sample_every = self.rng.choice(SAMPLE_TICKS)
        self.running = self.rng.random() < 0.85
        self.until = tick + self._run_ticks() if self.running else tick + self._stop_ticks()
        self.running_key = next((m.key for m in spec.metrics if m.role == "running"), None)
        self.signals = {m.key: signal_for(m, self.rng) for m in spec.metrics
                        if m.role != "running"}
        self.battery = next((s for s in self.signals.values() if isinstance(s, Battery)), None)
        self.temperatures = [s for s in self.signals.values() if isinstance(s, Temperature)]
        self.obstacle = False
        self.reported = self.values()
        self.reported_at = tick

    def _run_ticks(self):
        return self.rng.randint(5 * 60, 25 * 60) // TICK_SECONDS

    def _stop_ticks(self):
        return self.rng.randint(60, 4 * 60) // TICK_SECONDS

    @property
    def overheating(self):
        return any(t.overheat_to is not None for t in self.temperatures)

    def step(self, tick):
        if self.battery is not None and self.battery.charging:
            self.running = False
            self.until = tick + 1            # back to work as soon as it is charged
        elif tick >= self.until:
            self.running = not self.running
            self.until = tick + (self._run_ticks() if self.running else self._stop_ticks())
        self.obstacle = any(isinstance(s, Flag) and s.ticks_left for s in self.signals.values())
        for signal in self.signals.values():
            signal.step(self)
        if tick % self.sample_every == 0:
            self.reported = self.values()
            self.reported_at = tick

    def values(self):
        values = {key: signal.value() for key, signal in self.signals.items()}
        if self.running_key:
            values[self.running_key] = self.running
        # The definition's order, as a device would list them.
        return {m.key: values[m.key] for m in self.spec.metrics}


# --- the plant ---------------------------------------------------------------------------

class Plant:
    """Every machine the vendor plays, plus the plant-wide events (overheats, silence).

    Thread-safe: the HTTP threads, the pusher and the machine refresher share one plant.
    `silent` is the code of the machine that goes quiet now and then; None picks the last
    machine in code order, False none.
    """

    def __init__(self, machines=(), seed=0, silent=None, now=None):
        self.seed, self.silent_choice = seed, silent
        self.rng = random.Random(f"{seed}/plant")
        self.models = {}
        self.tick = None
        self.next_overheat = self.overheat_ends = None
        self.overheated_by = None
        self.silence = (None, None)       # (first silent tick, first tick answering again)
        self.events = deque(maxlen=500)   # (tick, text): what happened, for logs and tests
        self.events_logged = 0
        self._lock = threading.RLock()
        if machines or now is not None:
            self.sync(machines, now or datetime.now(UTC))

    # -- the machine list --

    def sync(self, specs, now):
        """Play exactly these machines from now on; new ones start fresh, gone ones go."""
        with self._lock:
            self._start(now)
            self.advance(now)
            wanted = {s.vendor_id: s for s in specs}
            for vendor_id in list(self.models):
                if vendor_id not in wanted:
                    del self.models[vendor_id]
            for vendor_id, spec in wanted.items():
                model = self.models.get(vendor_id)
                if model is None or model.spec != spec:
                    self.models[vendor_id] = MachineModel(spec, self.seed, self.tick)
            if self.overheated_by not in self.models:
                self.overheated_by = None

    def _start(self, now):
        if self.tick is not None:
            return
        self.tick = tick_of(now)
        self.next_overheat = self.tick + self.rng.randint(60, 180) // TICK_SECONDS
        start = self.tick + self.rng.randint(3 * 60, 6 * 60) // TICK_SECONDS
        self.silence = (start, start + self.rng.randint(2 * 60, 4 * 60) // TICK_SECONDS)

    @property
    def silent_code(self):
        with self._lock:
            if self.silent_choice is False:
                return None
            if self.silent_choice:
                return self.silent_choice.upper()
            return max((m.spec.code for m in self.models.values()), default=None)

    def knows(self, vendor_id):
        with self._lock:
            return vendor_id in self.models

    def model(self, vendor_id):
        with self._lock:
            try:
                return self.models[vendor_id]
            except KeyError:
                raise UnknownMachine(vendor_id) from None

    # -- time --

    def advance(self, now):
        """Step every machine up to `now` (never backwards)."""
        with self._lock:
            self._start(now)
            target = tick_of(now)
            if target - self.tick > MAX_CATCH_UP_TICKS:
                self.tick = target - MAX_CATCH_UP_TICKS
            while self.tick < target:
                self.tick += 1
                self._step_plant()
                for vendor_id in sorted(self.models):
                    self.models[vendor_id].step(self.tick)

    def _step_plant(self):
        tick = self.tick
        if self.overheated_by is not None and tick >= self.overheat_ends:
            for temperature in self.models[self.overheated_by].temperatures:
                temperature.overheat_to = None
            self._event(f"{self.models[self.overheated_by].spec.code} cools down")
            self.overheated_by = None
            self.next_overheat = tick + self.rng.randint(3 * 60, 7 * 60) // TICK_SECONDS
        if self.overheated_by is None and tick >= self.next_overheat:
            candidates = [v for v in sorted(self.models) if self.models[v].running
                          and self.models[v].temperatures]
            if candidates:
                vendor_id = self.rng.choice(candidates)
                model = self.models[vendor_id]
                for temperature in model.temperatures:
                    temperature.overheat_to = self.rng.uniform(1.08, 1.25)
                self.overheated_by = vendor_id
                self.overheat_ends = tick + self.rng.randint(2 * 60, 4 * 60) // TICK_SECONDS
                self._event(f"{model.spec.code} overheats")
        start, end = self.silence
        if tick == start:
            self._event(f"{self.silent_code} goes silent")
        if tick >= end:
            start = tick + self.rng.randint(10 * 60, 20 * 60) // TICK_SECONDS
            self.silence = (start, start + self.rng.randint(2 * 60, 4 * 60) // TICK_SECONDS)
            self._event(f"{self.silent_code} answers again")

    def _event(self, text):
        self.events.append((self.tick, text))
        self.events_logged += 1

    def events_since(self, count):
        """(texts of the events after the first `count` ever logged, the new count)."""
        with self._lock:
            new = min(self.events_logged - count, len(self.events))
            texts = [text for _, text in list(self.events)[len(self.events) - new:]]
            return texts, self.events_logged

    # -- readings --

    def is_silent(self, vendor_id, now=None):
        with self._lock:
            if now is not None:
                self.advance(now)
            model = self.model(vendor_id)
            start, end = self.silence
            return (model.spec.code == self.silent_code and start is not None
                    and start <= self.tick < end)

    def reading(self, vendor_id, now):
        """The machine's current reading, or None while it is silent."""
        with self._lock:
            self.advance(now)
            model = self.model(vendor_id)
            if self.is_silent(vendor_id):
                return None
            return Reading(vendor_id, now.astimezone(UTC).replace(microsecond=0),
                           dict(model.reported))
