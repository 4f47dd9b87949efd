"""Readable default run names ("bright-heron-42"), as MLflow gives runs without a name."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
    "fancy", "gentle", "glad", "golden", "grand", "happy", "honest", "jolly", "keen", "kind",
    "lively", "lucky", "merry", "mighty", "nimble", "noble", "polite", "proud", "quick",
    "quiet", "rapid", "rare", "rustic", "shiny", "silent", "smooth", "steady", "sunny",
    "swift", "tidy", "vivid", "warm", "wise", "witty", "zesty",
)
_NOUNS = (
    "badger", "bear", "bee", "bison", "crane", "crow", "deer", "dolphin", "eagle", "falcon",
    "ferret", "finch", "fox", "gazelle", "gull", "hare", "hawk", "heron", "ibis", "jay",
    "koala", "lark", "lemur", "lynx", "mole", "moose", "newt", "orca", "otter", "owl",
    "panda", "puffin", "quail", "raven", "robin", "seal", "shrew", "sloth", "stork", "swan",
    "tern", "tiger", "toad", "trout", "vole", "wolf", "wren", "yak", "zebra",
)

_random = random.Random()


def generate_run_name() -> str:
    return f"{_random.choice(_ADJECTIVES)}-{_random.choice(_NOUNS)}-{_random.randint(1, 999)}"
