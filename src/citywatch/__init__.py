"""citywatch: city-scale camera face recognition, accountable by construction."""

__version__ = "0.1.0"
