"""The plan of `make bench`'s Locust runs: which loads, in which order, against which server."""

from __future__ import annotations

from dataclasses import dataclass

# Seconds of reveals before the measured scenarios, to warm every worker (not counted).
WARMUP_SECONDS = 6
# The load-curve points between the light load and the target when --curve-users is not given.
DEFAULT_CURVE = (25, 50, 75)

# The floors (bench/floors.py), each run at the light load and at the target between the direct
# calls and the complete reveals, in this order: what each layer adds shows as the step between
# two rungs. Scenario name prefix, Locust user class, what the rung adds over the one before.
FLOOR_RUNGS = (
    ("floor_bare", "BareFloorUser", "HTTP and gunicorn"),
    ("floor_django", "ProviderFloorUser", "Django's signed-in request and the card read"),
)


@dataclass(frozen=True)
class Scenario:
    """One Locust run of `make bench`: `users` of `user_class` for `seconds`, against the app's
    server or the floor server; `direct_first` makes the direct calls at that load just before."""

    name: str
    user_class: str
    users: int
    seconds: int
    server: str = "app"
    direct_first: bool = False


def _floor_scenarios(count: int, seconds: int) -> list[Scenario]:
    """The floor rungs at one load, the first after the direct calls at that load."""
    return [
        Scenario(
            f"{rung}_{count}", user_class, count, seconds, server="floors", direct_first=i == 0
        )
        for i, (rung, user_class, _) in enumerate(FLOOR_RUNGS)
    ]


def scenario_plan(
    *,
    light: int,
    curve: list[int],
    users: int,
    overload: int,
    list_users: int,
    workers: int,
    seconds: int,
    floors: bool,
) -> list[Scenario]:
    """The Locust runs of `make bench`, in order. Warm-ups first (not counted: each worker's
    first call through each provider loads that binding's keys, opens its pooled connection and,
    for Thredd, fetches a token). Then each reveal load, lightest first, its direct calls just
    before it; at the light load and the target, with `floors`, the floor rungs run between the
    direct calls and the reveals, so the four meet the machine in the same state. The card list
    last. Loads of 0 users are left out."""
    warm = max(light, 8 * workers)
    plan = [Scenario("warmup", "RevealUser", warm, WARMUP_SECONDS)]
    if floors:
        plan += [
            Scenario(f"{rung}_warmup", user_class, warm, WARMUP_SECONDS, server="floors")
            for rung, user_class, _ in FLOOR_RUNGS
        ]
    loads = [
        ("reveal_light", light),
        *((f"reveal_at_{n}", n) for n in curve),
        ("reveal", users),
        ("reveal_overload", overload),
    ]
    for name, count in loads:
        if count <= 0:
            continue
        if floors and name in ("reveal_light", "reveal"):
            plan += _floor_scenarios(count, seconds)
            plan.append(Scenario(name, "RevealUser", count, seconds))
        else:
            plan.append(Scenario(name, "RevealUser", count, seconds, direct_first=True))
    if list_users > 0:
        plan.append(Scenario("list", "CardListUser", list_users, seconds))
    return plan


def parse_curve_users(raw: str | None, *, light: int, top: int) -> list[int]:
    """The load-curve points from `--curve-users`: distinct whole numbers of cardholders above
    the light load and below the target, in increasing order. Without the option, those of
    DEFAULT_CURVE in that range (a short run with `--users 40` keeps 25). Raises SystemExit
    naming what is wrong in a list given."""
    if raw is None:
        return [n for n in DEFAULT_CURVE if light < n < top]
    points: list[int] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise SystemExit(f"--curve-users: {part!r} is not a whole number of cardholders")
        points.append(int(part))
    outside = [n for n in points if not light < n < top]
    if outside:
        raise SystemExit(
            f"--curve-users: {', '.join(map(str, outside))} not between the light load ({light}) "
            f"and the target ({top}); those runs exist already"
        )
    return sorted(set(points))
