"""The physics the crowd's sound is built from: hands, voices, distance, air and the venue.

Spectra here are power responses on a frequency grid; `sources` turns them into sounds. A crowd of
`size` people fills a half disc in front of the stage; the audience microphones stand at its flat
edge, so most people are far away: each ring of listeners adds about the same energy per octave of
distance (more people, each quieter), and the far ones are darker (air absorption, ISO 9613-1,
and the venue's own high-frequency loss over the audience and at the walls). Large crowds are
therefore dark and diffuse; in a small one the nearest clappers stand out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Hand configurations after Peltola et al., "Synthesis of hand clapping sounds" (IEEE TASLP
#: 2007): palms parallel (P1-P3) or at an angle (A1-A3), flat or cupped (A1+ most cupped). Each is a
#: resonance of the air between the hands: (centre Hz, quality factor, share of clappers). Clap
#: spectra peak between 0.7 and 2.2 kHz; cupped hands ring lower and longer.
HAND_CONFIGURATIONS = (
    (1700.0, 2.5, 0.12),  # P1
    (1350.0, 3.0, 0.14),  # P2
    (1100.0, 3.5, 0.12),  # P3
    (950.0, 5.0, 0.18),  # A1
    (1250.0, 4.0, 0.14),  # A2
    (2100.0, 2.2, 0.10),  # A3
    (720.0, 7.0, 0.10),  # A1+
    (1500.0, 2.0, 0.10),  # A1-
)
PEOPLE_PER_M2 = 1.5
#: No one stands closer to the audience microphones than 1.5 m; in big venues they hang higher
#: and further out (3.5 % of the crowd's depth, up to 5 m).
NEAREST_M = 1.5
#: The venue's high-frequency loss for sound from `d` metres: a first-order roll-off from
#: VENUE_CORNER_HZ at 1 m, falling as 1/sqrt(d) (grazing propagation over the audience, reflections).
VENUE_CORNER_HZ = 14000.0


def air_absorption_db_per_m(
    frequency_hz: np.ndarray, *, temperature_c: float = 20.0, humidity_percent: float = 50.0
) -> np.ndarray:
    """Atmospheric absorption in dB per metre, ISO 9613-1 (at sea-level pressure)."""
    f = np.asarray(frequency_hz, dtype=np.float64)
    kelvin = 273.15 + temperature_c
    relative = kelvin / 293.15
    saturation = 10.0 ** (-6.8346 * (273.16 / kelvin) ** 1.261 + 4.6151)
    vapour = humidity_percent * saturation  # molar concentration of water vapour, %
    oxygen_hz = 24.0 + 4.04e4 * vapour * (0.02 + vapour) / (0.391 + vapour)
    nitrogen_hz = relative**-0.5 * (
        9.0 + 280.0 * vapour * math.exp(-4.170 * (relative ** (-1 / 3) - 1))
    )
    return (
        8.686
        * f**2
        * (
            1.84e-11 * relative**0.5
            + relative**-2.5
            * (
                0.01275 * math.exp(-2239.1 / kelvin) / (oxygen_hz + f**2 / oxygen_hz)
                + 0.1068 * math.exp(-3352.0 / kelvin) / (nitrogen_hz + f**2 / nitrogen_hz)
            )
        )
    )


def distance_response(frequency_hz: np.ndarray, distance_m: float) -> np.ndarray:
    """Power response of `distance_m` of air and venue (1 at low frequencies; spreading apart)."""
    air_db = air_absorption_db_per_m(frequency_hz) * distance_m
    corner_hz = VENUE_CORNER_HZ / math.sqrt(max(distance_m, 1.0))
    return 10.0 ** (-air_db / 10.0) / (1.0 + (np.asarray(frequency_hz) / corner_hz) ** 2)


@dataclass(frozen=True)
class Audience:
    """Where a crowd's people stand, seen from the audience microphones.

    `distances_m` are representative distances of `len(distances_m)` rings of equal width in
    log-distance; `energy_shares` the share of the crowd's sound each ring brings (its people over
    their squared distance).
    """

    size: int
    nearest_m: float
    radius_m: float
    distances_m: np.ndarray
    energy_shares: np.ndarray

    @classmethod
    def of(cls, size: int, rings: int = 6) -> Audience:
        radius_m = max(math.sqrt(2.0 * size / (PEOPLE_PER_M2 * math.pi)), NEAREST_M * 2.0)
        nearest_m = float(np.clip(0.035 * radius_m, NEAREST_M, 5.0))
        edges = np.geomspace(nearest_m, radius_m, rings + 1)
        # People within r of the microphones ~ r^2, each heard at 1 / r^2: energy ~ d(log r).
        shares = np.log(edges[1:] / edges[:-1])
        return cls(
            size, nearest_m, radius_m, np.sqrt(edges[1:] * edges[:-1]), shares / shares.sum()
        )

    def near_radius_m(self, people: int) -> float:
        """How far out the `people` nearest members stand (at least 1.5x the nearest distance)."""
        return max(
            self.radius_m * math.sqrt(min(people, self.size) / self.size), 1.5 * self.nearest_m
        )

    def nearest_share(self, people: int) -> float:
        """Share of the crowd's sound that its `people` nearest members make."""
        if people >= self.size:
            return 1.0
        near_m = self.near_radius_m(people)
        return math.log(near_m / self.nearest_m) / math.log(self.radius_m / self.nearest_m)

    def person_distances_m(self, rng: np.random.Generator, count: int, *, among: int) -> np.ndarray:
        """Distances of `count` people drawn from the crowd's `among` nearest (uniform over the
        area those stand on)."""
        near_m = self.near_radius_m(among)
        return np.sqrt(rng.uniform(self.nearest_m**2, near_m**2, count))

    def far_response(self, frequency_hz: np.ndarray, *, beyond_people: int = 0) -> np.ndarray:
        """Average power response of everyone but the `beyond_people` nearest, unit at low
        frequencies (the spectrum of the crowd's diffuse part)."""
        near_m = self.radius_m * math.sqrt(min(beyond_people, self.size) / self.size)
        weights = np.where(self.distances_m >= near_m, self.energy_shares, 0.0)
        if weights.sum() == 0:
            weights = self.energy_shares
        responses = [distance_response(frequency_hz, d) for d in self.distances_m]
        return np.tensordot(weights / weights.sum(), np.array(responses), axes=1)


def resonance(frequency_hz: np.ndarray, centre_hz: float, quality: float) -> np.ndarray:
    """Power response of a second-order band-pass resonance, 1 at its centre."""
    f = np.maximum(np.asarray(frequency_hz, dtype=np.float64), 1.0)
    return 1.0 / (1.0 + quality**2 * (f / centre_hz - centre_hz / f) ** 2)


def clap_spectrum(frequency_hz: np.ndarray) -> np.ndarray:
    """Average power spectrum of one clap over the hand configurations (unnormalised)."""
    return np.asarray(
        sum(
            share * resonance(frequency_hz, centre, quality) * quality / centre
            for centre, quality, share in HAND_CONFIGURATIONS
        )
    )


#: Vowel formants (Hz) of shouting adults, (F1, F2, F3), and their bandwidths' share of F.
VOWELS = {
    "u": (350.0, 900.0, 2400.0),
    "o": (520.0, 950.0, 2600.0),
    "a": (800.0, 1200.0, 2650.0),
    "e": (560.0, 1900.0, 2700.0),
    "i": (300.0, 2300.0, 3100.0),
}
FORMANT_GAINS = (1.0, 0.5, 0.25)
FORMANT_BANDWIDTH = 0.12


def voice_spectrum(frequency_hz: np.ndarray, vowels: str = "uoaei") -> np.ndarray:
    """Average power spectrum of shouting voices: a glottal source falling 12 dB per octave
    above 300 Hz through the vowels' formants (the roar of many voices)."""
    f = np.maximum(np.asarray(frequency_hz, dtype=np.float64), 1.0)
    source = 1.0 / (1.0 + (f / 300.0) ** 4) ** 0.5 / (1.0 + (100.0 / f) ** 4)
    envelope = np.zeros_like(f)
    for vowel in vowels:
        for formant, gain in zip(VOWELS[vowel], FORMANT_GAINS, strict=True):
            envelope += gain**2 * resonance(f, formant, 1.0 / FORMANT_BANDWIDTH)
    return source * (envelope / len(vowels) + 0.02)
