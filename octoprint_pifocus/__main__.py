"""``python -m octoprint_pifocus``: the engine's command line, no OctoPrint needed."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m octoprint_pifocus"))
