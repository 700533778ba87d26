"""cloudpbx: a multi-tenant hosted telephony platform with a Crossbar v2 compatible API."""

__version__ = "0.1.0"
