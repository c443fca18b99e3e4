"""Customer demand: skewed sku popularity, store sizes, weekly and intraday seasonality, promotions.

Demand is drawn per 5-minute tick as a number of order lines (Poisson) whose skus are sampled
from the popularity distribution, so the cost is proportional to sales, not to stores x skus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.simulator.clock import TICK_SECONDS, TICKS_PER_DAY, Clock, iso
from orchestration.simulator.world import Channel, World

# Zipf-like popularity: a few fast movers, a long tail.
POPULARITY_EXPONENT = 0.8
DISCONTINUED_DEMAND_FACTOR = 0.3
# Store sales in units per sku of the assortment per day (x store size).
STORE_UNITS_PER_SKU_DAY = 0.12
STORE_SIZE_SIGMA = 0.35
LINE_QTY = np.array([1, 2, 3])
LINE_QTY_P = np.array([0.82, 0.14, 0.04])
MEAN_LINE_QTY = float((LINE_QTY * LINE_QTY_P).sum())
TILL_RETURN_SHARE = 0.03
# Monday..Sunday.
WEEKDAY_FACTOR = np.array([0.85, 0.85, 0.9, 0.95, 1.15, 1.45, 0.85])
_STORE_HOURS = {
    8: 0.5,
    9: 0.7,
    10: 0.9,
    11: 1.1,
    12: 1.3,
    13: 1.2,
    14: 1.0,
    15: 1.0,
    16: 1.1,
    17: 1.3,
    18: 1.3,
    19: 1.0,
    20: 0.6,
}
_WEB_HOURS = (
    0.3,
    0.2,
    0.15,
    0.1,
    0.1,
    0.15,
    0.3,
    0.5,
    0.7,
    0.8,
    0.9,
    1.0,
    1.1,
    1.0,
    0.95,
    0.95,
    1.0,
    1.1,
    1.3,
    1.5,
    1.6,
    1.4,
    1.0,
    0.6,
)
# One marketplace per day runs a promotion: a few skus sell PROMO_MULTIPLIER times faster for a window.
PROMO_MULTIPLIER = 6.0
PROMO_HOURS = 4
PROMO_SKU_SHARE = 0.02


def _tick_profile(hour_weights: dict[int, float]) -> np.ndarray:
    per_tick = np.zeros(TICKS_PER_DAY)
    ticks_per_hour = 3600 // TICK_SECONDS
    for hour, weight in hour_weights.items():
        per_tick[hour * ticks_per_hour : (hour + 1) * ticks_per_hour] = weight
    return per_tick / per_tick.sum()


STORE_INTRADAY = _tick_profile(_STORE_HOURS)
WEB_INTRADAY = _tick_profile(dict(enumerate(_WEB_HOURS)))


@dataclass(frozen=True)
class Promotion:
    day: int
    channel_index: int
    channel_id: str
    start: int  # epoch seconds
    end: int
    skus: np.ndarray

    def as_dict(self, sku_ids: np.ndarray) -> dict[str, object]:
        return {
            "channel_id": self.channel_id,
            "start": iso(self.start),
            "end": iso(self.end),
            "multiplier": PROMO_MULTIPLIER,
            "skus": [str(sku_ids[s]) for s in self.skus],
        }


@dataclass
class StoreSales:
    store: np.ndarray  # location index
    sku: np.ndarray
    qty: np.ndarray  # positive = sale, negative = return at the till
    ts: np.ndarray


class DemandModel:
    def __init__(self, world: World, clock: Clock, rng: np.random.Generator) -> None:
        self.world = world
        self.clock = clock
        self.rng = rng
        n_skus = world.n_skus
        rank = rng.permutation(n_skus) + 1
        weight = rank.astype(np.float64) ** -POPULARITY_EXPONENT
        weight[~world.active] *= DISCONTINUED_DEMAND_FACTOR
        self.sku_weight = weight / weight.sum()
        self._sku_cum = np.cumsum(self.sku_weight)
        size = rng.lognormal(0.0, STORE_SIZE_SIGMA, world.n_stores)
        self.store_daily_units = STORE_UNITS_PER_SKU_DAY * n_skus * size / size.mean()
        self._channel_cum = {
            ch.index: np.cumsum(self.sku_weight[ch.listed]) / self.sku_weight[ch.listed].sum()
            for ch in world.channels
            if ch.has_feeds and len(ch.listed)
        }
        self.promotions = self._plan_promotions()

    # --- expected rates (replenishment policies are sized from them) ---------------------------

    def store_daily_demand(self) -> np.ndarray:
        """Expected units per day, shape (stores, skus)."""
        return np.outer(self.store_daily_units, self.sku_weight)

    def channel_daily_demand(self) -> np.ndarray:
        """Expected units per day over all channels, per sku."""
        total = np.zeros(self.world.n_skus)
        for ch in self.world.channels:
            if ch.has_feeds and len(ch.listed):
                w = self.sku_weight[ch.listed] / self.sku_weight[ch.listed].sum()
                total[ch.listed] += ch.daily_lines * MEAN_LINE_QTY * w
        return total

    # --- draws ----------------------------------------------------------------------------------

    def _tick_of_day(self, tick_start: int) -> int:
        return self.clock.minute_of_day(tick_start) * 60 // TICK_SECONDS

    def _sample(self, cum: np.ndarray, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cum, self.rng.random(n), side="right"), len(cum) - 1)

    def _line_qty(self, n: int) -> np.ndarray:
        return self.rng.choice(LINE_QTY, size=n, p=LINE_QTY_P)

    def _phase_ts(self, tick_start: int, n: int, low: int, high: int) -> np.ndarray:
        return tick_start + self.rng.integers(low, high, n)

    def store_sales(self, tick_start: int, low: int, high: int) -> StoreSales:
        """Walk-in lines for every store in one tick (positive qty), plus till returns (-1)."""
        factor = (
            WEEKDAY_FACTOR[self.clock.weekday(tick_start)] * STORE_INTRADAY[self._tick_of_day(tick_start)]
        )
        lam = self.store_daily_units * factor / MEAN_LINE_QTY
        n_sales = self.rng.poisson(lam)
        n_returns = self.rng.poisson(lam * TILL_RETURN_SHARE)
        stores_local = np.concatenate(
            [np.repeat(np.arange(len(lam)), n_sales), np.repeat(np.arange(len(lam)), n_returns)]
        )
        total_sales, total_returns = int(n_sales.sum()), int(n_returns.sum())
        sku = self._sample(self._sku_cum, total_sales + total_returns)
        qty = np.concatenate([self._line_qty(total_sales), -np.ones(total_returns, dtype=np.int64)])
        ts = self._phase_ts(tick_start, len(qty), low, high)
        return StoreSales(stores_local + self.world.n_dcs, sku, qty.astype(np.int64), ts)

    def channel_lines(self, channel: Channel, tick_start: int) -> tuple[np.ndarray, np.ndarray]:
        """(sku, qty) of the order lines a channel receives in one tick, promotions included."""
        if channel.index not in self._channel_cum:
            return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
        base = (
            channel.daily_lines
            * WEEKDAY_FACTOR[self.clock.weekday(tick_start)]
            * WEB_INTRADAY[self._tick_of_day(tick_start)]
        )
        skus = [self._sample(self._channel_cum[channel.index], int(self.rng.poisson(base)))]
        for promo in self.promotions:
            if promo.channel_index == channel.index and promo.start <= tick_start < promo.end:
                share = self.sku_weight[promo.skus].sum() / self.sku_weight[channel.listed].sum()
                extra = int(self.rng.poisson(base * share * (PROMO_MULTIPLIER - 1)))
                cum = np.cumsum(self.sku_weight[promo.skus]) / self.sku_weight[promo.skus].sum()
                skus.append(promo.skus[self._sample(cum, extra)])
        sku = np.concatenate(skus)
        return sku, self._line_qty(len(sku)).astype(np.int64)

    def _plan_promotions(self) -> list[Promotion]:
        marketplaces = [
            ch for ch in self.world.channels if ch.channel_type == "marketplace" and len(ch.listed)
        ]
        promos: list[Promotion] = []
        if not marketplaces:
            return promos
        for day in range(self.clock.days):
            ch = marketplaces[int(self.rng.integers(0, len(marketplaces)))]
            start = self.clock.start + day * 86_400 + int(self.rng.integers(10, 19)) * 3600
            n = max(1, int(len(ch.listed) * PROMO_SKU_SHARE))
            skus = np.sort(self.rng.choice(ch.listed, size=n, replace=False))
            promos.append(Promotion(day, ch.index, ch.channel_id, start, start + PROMO_HOURS * 3600, skus))
        return promos
