"""``python -m services.seal --config FILE``: run the seal service until SIGTERM/SIGINT."""

from certseal.process import run_main
from services.config import load
from services.seal.app import SealApp

if __name__ == "__main__":
    run_main("services.seal", SealApp, load)
