"""segbridge: the app shell (CLI). The domain lives in `core`, protocols in `connectors`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segbridge")
except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
    __version__ = "0.0.0+local"
