#!/usr/bin/python3
"""`make demo`: the single-site topology with cats-controller and the
Mininet CLI (see single_site.py for the options and extra CLI commands)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import single_site  # noqa: E402

if __name__ == "__main__":
    sys.exit(single_site.main())
