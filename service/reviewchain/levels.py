"""The review levels a year's policy may name, in the one order they can come in."""

from itertools import combinations
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from service.kit.types import Declared

LEVELS = ("district", "city", "finance")
DEFAULT_LEVELS = ["city"]
Level = Literal["district", "city", "finance"]


def _check_levels(levels: list[str]) -> list[str]:
    if len(set(levels)) != len(levels):
        raise ValueError("each review level may appear once")
    if levels != sorted(levels, key=LEVELS.index):
        raise ValueError("review levels go in the order district, city, finance")
    return levels


# The seven chains _check_levels accepts, stated as an enum so a client knows them.
CHAINS = [list(chain) for n in range(1, len(LEVELS) + 1) for chain in combinations(LEVELS, n)]
ReviewLevels = Annotated[list[Level], Field(min_length=1, max_length=len(LEVELS)),
                         AfterValidator(_check_levels), Declared(enum=CHAINS)]
