"""SpecLoader: the YAML loader of hypothesis specs (`safeload.load_yaml`), a SafeLoader that
also refuses what makes a small file expensive or ambiguous. Apart from safeload.py, so that
reading rca.toml never imports PyYAML."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import inert
from .safeload import MAX_ALIASES, MAX_DEPTH, MAX_VALUES

_MERGE = "tag:yaml.org,2002:merge"


class Refused(yaml.YAMLError):
    """A spec SpecLoader refuses: the line and why."""

    def __init__(self, line: int, text: str) -> None:
        super().__init__(text)
        self.line = line
        self.text = text


class SpecLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags) that also refuses what makes a small file expensive or
    ambiguous: duplicate keys, nesting deeper than MAX_DEPTH, recursive aliases, more than
    MAX_ALIASES aliases, and more than MAX_VALUES values (each alias counted expanded): the
    work and memory a spec costs stay proportional to MAX_VALUES, whatever the file holds."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._depth = 0
        self._aliases = 0
        self._values = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is the composer's own error
                size = self._sizes.get(id(target))
                if size is None:
                    raise Refused(
                        line, f"alias *{event.anchor} is recursive (it is inside &{event.anchor})"
                    )
                self._aliases += 1
                self._values += size
                if self._aliases > MAX_ALIASES:
                    raise Refused(line, f"more than {MAX_ALIASES} YAML aliases")
                if self._values > MAX_VALUES:
                    raise Refused(line, f"YAML aliases expand to more than {MAX_VALUES} values")
            return super().compose_node(parent, index)
        self._depth += 1
        self._values += 1
        if self._values > MAX_VALUES:
            raise Refused(line, f"more than {MAX_VALUES} values")
        if self._depth > MAX_DEPTH:
            raise Refused(line, f"nested more than {MAX_DEPTH} levels deep")
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        if node is not None:
            self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE:
                key = self.construct_object(key_node)
                if key in seen:
                    raise Refused(key_node.start_mark.line + 1, f"duplicate key {inert.shown(key)}")
                seen.add(key)
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # a date like 2024-13-45
            text = str(exc).split(";")[0]
            raise Refused(node.start_mark.line + 1, f"invalid value: {text}") from None
