"""The Crossbar v2 REST API: routing, authentication, the envelope, and one module per endpoint."""
