"""A tiny name -> object registry that feeds the CLI's choices and gives helpful errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to components (classes or factory functions).

    >>> ENCODERS = Registry("encoder")
    >>> @ENCODERS.register("gin")
    ... class GIN: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.choices())}"
            ) from None

    def resolve(self, name_or_obj: str | Any) -> Any:
        """Accept a registered name or an already-built object."""
        return self.get(name_or_obj) if isinstance(name_or_obj, str) else name_or_obj

    def choices(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.choices()})"
