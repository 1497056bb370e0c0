"""Recoup: files order cancellations and return/refund disputes on portals that have no API."""

__version__ = "0.1.0"
