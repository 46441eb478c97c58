"""The review levels a year's policy may name, in the one order they can come in."""

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

LEVELS = ("district", "city", "finance")
DEFAULT_LEVELS = ["city"]
Level = Literal["district", "city", "finance"]


def _check_levels(levels: list[str]) -> list[str]:
    if len(set(levels)) != len(levels):
        raise ValueError("each review level may appear once")
    if levels != sorted(levels, key=LEVELS.index):
        raise ValueError("review levels go in the order district, city, finance")
    return levels


ReviewLevels = Annotated[list[Level], Field(min_length=1, max_length=len(LEVELS)),
                         AfterValidator(_check_levels)]
