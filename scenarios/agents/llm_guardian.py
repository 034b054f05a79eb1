#!/usr/bin/env python3
"""kith-llm-agent from this checkout, for scenarios: the `kith` package is
taken from ../../python when it is not installed (`pip install ./python`).
Flags and environment as kith-llm-agent's (see python/kith/llm_agent.py)."""
import os
import sys

try:
    import kith  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from kith.llm_agent import main

if __name__ == "__main__":
    main()
