"""/v2/accounts/{A}/temporal_rules: stored as account documents with the generic CRUD."""

from cloudpbx.accounts.kinds import KINDS
from cloudpbx.api.endpoints.base import DocumentEndpoint

ENDPOINT = DocumentEndpoint(KINDS["temporal_rules"])
