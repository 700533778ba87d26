"""/v2/accounts/{A}/vmboxes: voicemail boxes; the mailbox number is unique in the account."""

from cloudpbx.accounts.kinds import VMBOX
from cloudpbx.api.endpoints.base import DocumentEndpoint

ENDPOINT = DocumentEndpoint(VMBOX)
