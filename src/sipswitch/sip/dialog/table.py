"""Finding the dialog of a message; the fan-out of forked responses (RFC 3261 §12, §13.2.2.4)."""

from __future__ import annotations

from collections.abc import Iterator

from sipswitch.sip.dialog.create import uac_dialog_from_response
from sipswitch.sip.dialog.model import DIALOG_CREATING, Dialog, DialogId, RequestVerdict
from sipswitch.sip.message import Request, Response


class DialogTable:
    """The dialogs of one user agent, keyed by :class:`DialogId`.

    Requests are matched by Call-ID, To tag (local) and From tag (remote); responses to our
    requests by Call-ID, From tag (local) and To tag (remote). Dialogs that terminate while
    the table processes a message are removed from it (and still returned to the caller).
    """

    __slots__ = ("_dialogs",)

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, Dialog):
            return self._dialogs.get(item.id) is item
        return isinstance(item, DialogId) and item in self._dialogs

    def add(self, dialog: Dialog) -> Dialog:
        """Add ``dialog``; a dialog with the same id must not be there already."""
        if dialog.id in self._dialogs:
            raise ValueError(f"dialog {dialog.id} exists")
        self._dialogs[dialog.id] = dialog
        return dialog

    def get(self, dialog_id: DialogId) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    def discard(self, dialog: Dialog | DialogId) -> None:
        key = dialog.id if isinstance(dialog, Dialog) else dialog
        self._dialogs.pop(key, None)

    def match_request(self, request: Request) -> Dialog | None:
        """The dialog an incoming request belongs to (§12.2.2), or None."""
        key = DialogId.of_request(request)
        return None if key is None else self._dialogs.get(key)

    def match_response(self, response: Response) -> Dialog | None:
        """The dialog a response to one of our requests belongs to, or None."""
        key = DialogId.of_response(response)
        return None if key is None else self._dialogs.get(key)

    def related(self, call_id: str, local_tag: str) -> list[Dialog]:
        """Every dialog sharing our side of one dialog-creating request (the forks of an INVITE)."""
        return [
            d for d in self._dialogs.values() if d.call_id == call_id and d.local_tag == local_tag
        ]

    def on_request(self, request: Request) -> tuple[Dialog | None, RequestVerdict]:
        """Match and apply an incoming request (§12.2.2).

        Without a To tag the request is :attr:`~RequestVerdict.OUT_OF_DIALOG`; with one that
        names no dialog it is :attr:`~RequestVerdict.NO_DIALOG` (answer 481); otherwise the
        dialog's own verdict (ACCEPT, or OUT_OF_ORDER: answer 500).
        """
        key = DialogId.of_request(request)
        if key is None:
            return None, RequestVerdict.OUT_OF_DIALOG
        dialog = self._dialogs.get(key)
        if dialog is None:
            return None, RequestVerdict.NO_DIALOG
        verdict = dialog.on_request(request)
        self._prune(dialog)
        return dialog, verdict

    def on_response(
        self, request: Request, response: Response, *, secure: bool | None = None
    ) -> Dialog | None:
        """Apply a response to our ``request``; return the dialog it concerns, if any.

        For a dialog-creating request (no To tag), every 101-299 response with a new To tag
        creates a dialog (early for 1xx, confirmed for 2xx; forking makes several, §12.1.2,
        §13.2.2.4), one with a known To tag updates its dialog, and a non-2xx final response
        terminates all the early dialogs of the request (§13.2.2.3). SUBSCRIBE and REFER
        create dialogs on 2xx only (RFC 6665 §4.1.2.1, RFC 3515 §2.4.4). Responses to
        in-dialog requests update the dialog they match.
        """
        if request.to.tag is not None:
            dialog = self.match_response(response)
            if dialog is not None:
                dialog.on_response(response)
                self._prune(dialog)
            return dialog
        status = response.status
        if status <= 100 or request.method not in DIALOG_CREATING:
            return None
        if status >= 300:
            self.terminate_early(request.call_id, request.from_.tag or "")
            return None
        if status < 200 and (request.method != "INVITE" or not response.to.tag):
            return None
        dialog = self.match_response(response)
        if dialog is None:
            return self.add(uac_dialog_from_response(request, response, secure=secure))
        dialog.on_response(response)
        self._prune(dialog)
        return dialog

    def terminate_early(self, call_id: str, local_tag: str) -> list[Dialog]:
        """Terminate and remove the early dialogs of one dialog-creating request.

        Called on a non-2xx final response, and by the caller when the INVITE transaction
        ends after a 2xx (forks that never answered, §13.2.2.4).
        """
        ended = [d for d in self.related(call_id, local_tag) if d.early]
        for dialog in ended:
            dialog.terminate()
            self.discard(dialog)
        return ended

    def _prune(self, dialog: Dialog) -> None:
        if dialog.terminated:
            self.discard(dialog)
