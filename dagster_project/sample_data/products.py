"""products: the catalogue of SKUs per category, their costs, popularity and list prices per month; a mixin
of `generator._Generator`: its methods share the generator's state (random generators, months, plans;
names with a leading underscore are private to this package)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

# name: (price range in yuan, geometric p of the quantity (near 1 = mostly one unit), return rate,
#        popularity, "product nouns", "variants")
_CATEGORIES = {
    "Electronics": (
        (99, 3999, 0.92, 0.045, 0.6),
        "Wireless Earbuds, Bluetooth Speaker, Smartwatch, Power Bank, Tablet, E-reader, Action Camera, "
        "Mechanical Keyboard, Wireless Mouse, Fast Charger",
        "Pro, Lite, Max, Air, Mini, Plus",
    ),
    "Home Appliances": (
        (79, 2499, 0.93, 0.04, 0.6),
        "Rice Cooker, Air Fryer, Electric Kettle, Blender, Air Purifier, Robot Vacuum, Hair Dryer, "
        "Humidifier, Microwave Oven, Induction Cooker",
        "Compact, Deluxe, Smart, Classic, 3L, 5L",
    ),
    "Apparel": (
        (49, 699, 0.72, 0.06, 1.2),
        "T-Shirt, Hoodie, Down Jacket, Jeans, Polo Shirt, Dress, Cardigan, Chinos, Windbreaker, Pajama Set",
        "Black, Navy, White, Grey, Olive, Red",
    ),
    "Footwear": (
        (129, 999, 0.88, 0.055, 0.8),
        "Running Shoes, Sneakers, Loafers, Hiking Boots, Sandals, Slippers, Canvas Shoes, Chelsea Boots, "
        "Trail Runners, Court Shoes",
        "Black, White, Brown, Grey, Blue, Beige",
    ),
    "Beauty & Personal Care": (
        (19, 499, 0.62, 0.02, 1.2),
        "Face Cream, Sunscreen SPF50, Shampoo, Lip Balm, Facial Cleanser, Serum, Body Lotion, Hand Cream, "
        "Toner, Sheet Mask Pack",
        "50ml, 100ml, 200ml, Travel Size, Sensitive, Classic",
    ),
    "Food & Beverage": (
        (5, 129, 0.45, 0.008, 1.8),
        "Green Tea, Oolong Tea, Instant Noodles, Mixed Nuts, Dark Chocolate, Mooncake Gift Box, "
        "Coffee Beans, Dried Mango, Sesame Biscuits, Soy Milk",
        "250g, 500g, 1kg, Gift Box, Family Pack, Original",
    ),
    "Home & Kitchen": (
        (15, 599, 0.66, 0.03, 1.0),
        "Chef Knife, Non-stick Wok, Storage Box, Bath Towel, Ceramic Mug, Bedsheet Set, Cutting Board, "
        "Thermos Flask, Glass Food Container, Pillow",
        "Small, Medium, Large, Set of 2, Set of 4, Premium",
    ),
    "Sports & Outdoors": (
        (39, 1599, 0.82, 0.035, 0.7),
        "Yoga Mat, Dumbbell Set, Badminton Racket, Basketball, Camping Tent, Cycling Helmet, Running Belt, "
        "Jump Rope, Table Tennis Paddle, Trekking Poles",
        "Standard, Pro, Junior, Lightweight, Deluxe, Travel",
    ),
}
_SKUS_PER_CATEGORY = 30
_BAD_PRODUCT = ("SKU-10999", "Gift Card 500", "")
_UNKNOWN_SKU_SALES = "SKU-29999"
_UNKNOWN_SKU_INVENTORY = "SKU-29998"


class _Products:
    """The products file, and each SKU's cost, popularity, quantity and return rate, and price."""

    def _products(self) -> None:
        rng = self.rng
        skus, names, cats = [], [], []
        price, cost, pop, qty_p, ret = [], [], [], [], []
        number = 10001
        for ci, ((lo, hi, qp, rr, cpop), nouns, variants) in enumerate(_CATEGORIES.values()):
            combos = [f"{noun} {variant}" for noun in nouns.split(", ") for variant in variants.split(", ")]
            chosen = rng.choice(len(combos), _SKUS_PER_CATEGORY, replace=False)
            raw = np.exp(rng.uniform(math.log(lo), math.log(hi), _SKUS_PER_CATEGORY))
            yuan = np.where(raw >= 100, np.ceil(raw / 10) * 10 - 1, np.floor(raw) + 0.9)
            cents = np.rint(yuan * 100).astype(np.int64)
            ranks = rng.permutation(_SKUS_PER_CATEGORY) + 1.0
            weights = ranks**-0.8
            for j in range(_SKUS_PER_CATEGORY):
                skus.append(f"SKU-{number}")
                number += 1
                names.append(combos[chosen[j]])
                cats.append(ci)
            price.append(cents)
            cost.append(np.rint(cents * rng.uniform(0.5, 0.7, _SKUS_PER_CATEGORY)).astype(np.int64))
            pop.append(cpop * weights / weights.sum())
            qty_p += [qp] * _SKUS_PER_CATEGORY
            ret += [rr] * _SKUS_PER_CATEGORY
        self.sku_ids = pa.array(skus, pa.string())
        self.n_sku = len(skus)
        self.sku_category = np.array(cats)
        self.sku_cost = np.concatenate(cost)
        self.sku_pop = np.concatenate(pop)
        self.sku_pop /= self.sku_pop.sum()
        self.sku_qty_p = np.array(qty_p)
        self.sku_return = np.array(ret)
        # List price per month and SKU: stable, with one price change for about 15% of the SKUs.
        base = np.concatenate(price)
        months = len(self.months)
        self.price = np.tile(base, (months, 1))
        changed = np.flatnonzero(rng.random(self.n_sku) < 0.15)
        if months > 1:
            for k, when, factor in zip(
                changed,
                rng.integers(1, months, len(changed)),
                rng.choice([0.9, 0.95, 1.05, 1.08, 1.1, 1.15], len(changed)),
                strict=True,
            ):
                new = base[k] * factor / 100
                new = math.ceil(new / 10) * 10 - 1 if new >= 100 else math.floor(new) + 0.9
                self.price[when:, k] = round(new * 100)

        columns = {
            "sku": self.sku_ids,
            "name": pa.array(names, pa.string()),
            "category": pa.array(list(_CATEGORIES)).take(pa.array(cats)),
        }
        bad = []
        if self.plant:
            sku, name, category = _BAD_PRODUCT
            bad.append(({"sku": sku, "name": name, "category": category or None}, "category is missing"))
        self._write("products", "products", columns, csv=True, bad=bad)
