"""The retailer's master data: items, locations (DCs first, then stores), sales channels.

Locations are addressed by index everywhere: 0..dcs-1 are the DCs (DC01..), dcs.. the stores
(S0001..). Each DC anchors one region; stores are spread over the regions; regions alternate
between the legal entities, so a default run (2 DCs) has two regions and two legal entities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.simulator.config import SimulationConfig

CATEGORIES = ("apparel", "footwear", "home", "kitchen", "beauty", "toys", "electronics", "garden")
# Accented words on purpose: the item master exercises UTF-8 (and the wrong-encoding fault).
_ADJECTIVES = ("Classic", "Crème", "Nordic", "Café", "Über", "Soft", "Señorita", "Pure", "Brisé", "Urban")
_NOUNS = {
    "apparel": ("T-shirt", "Pullover", "Jacket", "Chemise"),
    "footwear": ("Sneaker", "Boot", "Sandal", "Espadrille"),
    "home": ("Cushion", "Throw", "Vase", "Lamp"),
    "kitchen": ("Mug", "Casserole", "Knife set", "Müsli bowl"),
    "beauty": ("Face cream", "Eau de toilette", "Shampoo", "Lip balm"),
    "toys": ("Puzzle", "Teddy bear", "Building set", "Kite"),
    "electronics": ("Headphones", "Charger", "Speaker", "Smart plug"),
    "garden": ("Planter", "Hose", "Secateurs", "Lantern"),
}
REGION_NAMES = ("north", "south", "east", "west", "central", "coast", "highlands", "islands")
CURRENCY = "EUR"
DISCONTINUED_SHARE = 0.03
SHIP_FROM_STORE_SHARE = 0.2
PICKUP_SHARE = 0.6
# Daily order lines per sku in the assortment: the web shop sells more than a marketplace.
WEB_LINES_PER_SKU_DAY = 0.25
MARKETPLACE_LINES_PER_SKU_DAY = 0.06
MARKETPLACE_SHARES = (40, 30, 25, 20)


@dataclass(frozen=True)
class Channel:
    index: int
    channel_id: str
    channel_type: str  # web, marketplace, store
    max_share_pct: int
    channel_safety_stock: int
    fulfillment_location_types: tuple[str, ...]
    daily_lines: float
    listed: np.ndarray  # sorted sku indices the channel publishes (empty for store channels)

    @property
    def has_feeds(self) -> bool:
        """Store channels sell at the till: they have a policy but no channel/ feeds."""
        return self.channel_type != "store"


def channel_type_of(channel_id: str) -> str:
    lowered = channel_id.lower()
    if lowered.startswith("web"):
        return "web"
    if lowered.startswith(("store", "bopis", "pos")):
        return "store"
    return "marketplace"


@dataclass
class World:
    sku_ids: np.ndarray  # str
    sku_category: np.ndarray  # int index into CATEGORIES
    sku_description: list[str]
    unit_cost_cents: np.ndarray  # int64
    active: np.ndarray  # bool
    loc_ids: np.ndarray  # str
    n_dcs: int
    n_stores: int
    loc_region: np.ndarray  # int
    region_names: tuple[str, ...]
    region_legal_entity: tuple[str, ...]
    ships_to_customer: np.ndarray  # bool
    pickup_enabled: np.ndarray  # bool
    channels: tuple[Channel, ...]

    @property
    def n_skus(self) -> int:
        return len(self.sku_ids)

    @property
    def n_locations(self) -> int:
        return len(self.loc_ids)

    @property
    def is_dc(self) -> np.ndarray:
        return np.arange(self.n_locations) < self.n_dcs

    @property
    def dc_indices(self) -> np.ndarray:
        return np.arange(self.n_dcs)

    @property
    def store_indices(self) -> np.ndarray:
        return np.arange(self.n_dcs, self.n_locations)

    def location_type(self, loc: int) -> str:
        return "dc" if loc < self.n_dcs else "store"

    def legal_entity(self, loc: int) -> str:
        return self.region_legal_entity[int(self.loc_region[loc])]

    def region_dc(self, loc: int) -> int:
        """The DC that replenishes a location (a DC is its own)."""
        return int(self.loc_region[loc])

    @property
    def legal_entities(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.region_legal_entity)))

    def eligible_nodes(self, channel: Channel) -> np.ndarray:
        """Locations whose stock the channel may sell, as CONTRACT section 3 defines them."""
        types = np.where(self.is_dc, "dc", "store")
        in_types = np.isin(types, list(channel.fulfillment_location_types))
        if channel.channel_type == "store":
            return np.flatnonzero(in_types & self.pickup_enabled)
        return np.flatnonzero(in_types & self.ships_to_customer)


def _region_names(n: int) -> tuple[str, ...]:
    return tuple(REGION_NAMES[i] if i < len(REGION_NAMES) else f"region{i + 1}" for i in range(n))


def _channels(config: SimulationConfig, active: np.ndarray, rng: np.random.Generator) -> tuple[Channel, ...]:
    active_skus = np.flatnonzero(active)
    channels: list[Channel] = []
    marketplace_no = 0
    for index, channel_id in enumerate(config.channels):
        kind = channel_type_of(channel_id)
        if kind == "web":
            listed = active_skus
            channels.append(
                Channel(
                    index,
                    channel_id,
                    kind,
                    100,
                    0,
                    ("dc", "store"),
                    WEB_LINES_PER_SKU_DAY * len(active_skus),
                    listed,
                )
            )
        elif kind == "store":
            channels.append(
                Channel(index, channel_id, kind, 100, 0, ("store",), 0.0, np.array([], dtype=np.int64))
            )
        else:
            # A marketplace lists part of the assortment, and may sell only a share of the pool.
            share = rng.uniform(0.35, 0.7)
            listed = np.sort(
                rng.choice(active_skus, size=max(1, int(len(active_skus) * share)), replace=False)
            )
            pct = MARKETPLACE_SHARES[marketplace_no % len(MARKETPLACE_SHARES)]
            marketplace_no += 1
            channels.append(
                Channel(
                    index,
                    channel_id,
                    kind,
                    pct,
                    1 + marketplace_no % 2,
                    ("dc",),
                    MARKETPLACE_LINES_PER_SKU_DAY * len(active_skus),
                    listed,
                )
            )
    return tuple(channels)


def build_world(config: SimulationConfig, rng: np.random.Generator) -> World:
    n_skus, n_dcs, n_stores = config.skus, config.dcs, config.stores
    sku_ids = np.array([f"SKU{i + 1:06d}" for i in range(n_skus)])
    category = rng.integers(0, len(CATEGORIES), n_skus)
    adjective = rng.integers(0, len(_ADJECTIVES), n_skus)
    noun = rng.integers(0, 4, n_skus)
    descriptions = [
        f"{_ADJECTIVES[a]} {_NOUNS[CATEGORIES[c]][n]}"
        for a, c, n in zip(adjective, category, noun, strict=True)
    ]
    unit_cost = np.maximum(50, np.round(rng.lognormal(np.log(1200), 0.7, n_skus))).astype(np.int64)
    active = rng.random(n_skus) >= DISCONTINUED_SHARE
    active[0] = True  # at least one sellable sku, whatever the seed

    loc_ids = np.array([f"DC{i + 1:02d}" for i in range(n_dcs)] + [f"S{j + 1:04d}" for j in range(n_stores)])
    store_region = rng.permutation(np.arange(n_stores) % n_dcs)
    loc_region = np.concatenate([np.arange(n_dcs), store_region]).astype(np.int64)
    legal_entities = tuple(f"LE{(k % 2) + 1:02d}" for k in range(n_dcs))

    ships = np.zeros(n_dcs + n_stores, dtype=bool)
    ships[:n_dcs] = True
    ship_stores = rng.random(n_stores) < SHIP_FROM_STORE_SHARE
    ship_stores[rng.integers(0, n_stores)] = True  # the web shop always has a ship-from-store node
    ships[n_dcs:] = ship_stores
    pickup = np.zeros(n_dcs + n_stores, dtype=bool)
    pickup_stores = rng.random(n_stores) < PICKUP_SHARE
    pickup_stores[rng.integers(0, n_stores)] = True
    pickup[n_dcs:] = pickup_stores

    return World(
        sku_ids=sku_ids,
        sku_category=category,
        sku_description=descriptions,
        unit_cost_cents=unit_cost,
        active=active,
        loc_ids=loc_ids,
        n_dcs=n_dcs,
        n_stores=n_stores,
        loc_region=loc_region,
        region_names=_region_names(n_dcs),
        region_legal_entity=legal_entities,
        ships_to_customer=ships,
        pickup_enabled=pickup,
        channels=_channels(config, active, rng),
    )
