"""Trunk limits (KAZOO's jonny5): an account's effective limits, the decision for one carrier call, and the trunk
leases that count calls in progress across every process sharing the database."""
