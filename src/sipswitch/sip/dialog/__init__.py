"""SIP dialogs (RFC 3261 §12): state, creation, matching and in-dialog request building.

Pure: dialogs work on :class:`~sipswitch.sip.message.Request` and
:class:`~sipswitch.sip.message.Response` values, with no clock and no transactions.
"""

from sipswitch.sip.dialog.build import SentBy, ViaSource, route_request
from sipswitch.sip.dialog.create import (
    uac_dialog_from_response,
    uas_dialog_from_request,
    untagged,
)
from sipswitch.sip.dialog.model import (
    DIALOG_CREATING,
    TARGET_REFRESH,
    Dialog,
    DialogId,
    DialogRole,
    DialogState,
    RequestVerdict,
)
from sipswitch.sip.dialog.table import DialogTable

__all__ = [
    "DIALOG_CREATING",
    "TARGET_REFRESH",
    "Dialog",
    "DialogId",
    "DialogRole",
    "DialogState",
    "DialogTable",
    "RequestVerdict",
    "SentBy",
    "ViaSource",
    "route_request",
    "uac_dialog_from_response",
    "uas_dialog_from_request",
    "untagged",
]
