"""Worker shapes: the resources of one worker pod, and the short id that labels and names it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_SHAPE_ID_LENGTH = 32
"""Longest shape id: it is a label value and part of every pod name (63 characters at most)."""

_SHAPE_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def shape_id_for(cores: int, memory_mb: int, disk_mb: int, gpus: int = 0) -> str:
    """The id of a shape made from its resources: ``c4m8192d16384``, plus ``g1`` with GPUs.

    Readable in ``kubectl get pods`` (it is part of the pod name) and a valid label value. An
    id that would be longer than 32 characters (petabytes of disk) becomes ``s`` and a hash.
    """
    text = f"c{cores}m{memory_mb}d{disk_mb}"
    text = f"{text}g{gpus}" if gpus else text
    if len(text) <= MAX_SHAPE_ID_LENGTH:
        return text
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class WorkerShape:
    """The resources of one worker pod; the worker is started with exactly these.

    ``memory_mb`` and ``disk_mb`` are CCTools megabytes (2**20 bytes). ``id`` is the value of
    the pod's shape label and part of its name: a DNS label of at most 32 characters.
    """

    id: str
    cores: int
    memory_mb: int
    disk_mb: int
    gpus: int = 0

    def __post_init__(self) -> None:
        if not _SHAPE_ID.match(self.id):
            raise ValueError(
                f"shape id {self.id!r} must be 1-32 lowercase letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
        if self.cores < 1 or self.memory_mb < 1 or self.disk_mb < 1 or self.gpus < 0:
            raise ValueError(
                f"shape {self.id!r} needs cores, memory and disk >= 1 and gpus >= 0, got "
                f"cores={self.cores} memory_mb={self.memory_mb} disk_mb={self.disk_mb} "
                f"gpus={self.gpus}"
            )

    @classmethod
    def of(cls, cores: int, memory_mb: int, disk_mb: int, gpus: int = 0) -> WorkerShape:
        """A shape whose id is made from its resources (:func:`shape_id_for`)."""
        return cls(shape_id_for(cores, memory_mb, disk_mb, gpus), cores, memory_mb, disk_mb, gpus)

    def describe(self) -> str:
        """For humans: ``4 cores, 8192 MB memory, 16384 MB disk``."""
        text = f"{self.cores} cores, {self.memory_mb} MB memory, {self.disk_mb} MB disk"
        return f"{text}, {self.gpus} GPUs" if self.gpus else text
