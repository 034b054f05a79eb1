"""Who an agent is, as its daemon told it through the environment."""
import os
from dataclasses import dataclass, field
from typing import List, Mapping, Optional


@dataclass(frozen=True)
class Identity:
    """The KITH_* variables the supervisor sets for every agent it starts.

    The token binds a connection to this agent and generation; a reconnect
    says hello again with the same one.
    """

    agent: str
    socket: str
    token: str = ""
    node: str = ""
    generation: int = 0
    policy: str = ""
    protects: List[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None) -> "Identity":
        """Reads KITH_AGENT, KITH_SOCKET, KITH_TOKEN, KITH_NODE, KITH_GENERATION, KITH_POLICY, KITH_PROTECTS.

        Raises ValueError naming the first missing variable that cannot be done without.
        """
        env = os.environ if environ is None else environ
        for name in ("KITH_AGENT", "KITH_SOCKET"):
            if not env.get(name):
                raise ValueError("$%s is not set; a Kith agent is meant to be started by kithd" % name)
        generation = env.get("KITH_GENERATION", "")
        return cls(
            agent=env["KITH_AGENT"],
            socket=env["KITH_SOCKET"],
            token=env.get("KITH_TOKEN", ""),
            node=env.get("KITH_NODE", ""),
            generation=int(generation) if generation.isdigit() else 0,
            policy=env.get("KITH_POLICY", ""),
            protects=split_names(env.get("KITH_PROTECTS", "")),
        )


def split_names(text: str) -> List[str]:
    """"a, b,,c" -> ["a", "b", "c"]."""
    return [name.strip() for name in text.split(",") if name.strip()]
