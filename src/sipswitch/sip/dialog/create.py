"""Creating dialogs from the messages that establish them (RFC 3261 §12.1)."""

from __future__ import annotations

from dataclasses import replace

from sipswitch.sip.address import Address
from sipswitch.sip.dialog.model import Dialog, DialogRole, DialogState
from sipswitch.sip.errors import SipParseError
from sipswitch.sip.grammar import del_param
from sipswitch.sip.message import Request, Response
from sipswitch.sip.uri import SipUri, Uri


def untagged(address: Address) -> Address:
    """``address`` without its ``tag`` parameter (the dialog keeps tags apart)."""
    return replace(address, params=del_param(address.params, "tag"))


def _is_sips(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.scheme == "sips"


def _as_address(contact: Address | Uri) -> Address:
    return contact if isinstance(contact, Address) else Address(contact)


def uac_dialog_from_response(
    request: Request, response: Response, *, secure: bool | None = None
) -> Dialog:
    """The dialog a 101-299 response to our ``request`` creates (§12.1.2).

    A 1xx needs a To tag (without one it creates no dialog); a 2xx without one is from an
    RFC 2543 peer and gets a null remote tag. The route set is the Record-Route list reversed;
    the remote target is the response's Contact (the Request-URI when a sloppy 1xx has none).
    ``secure`` defaults to whether the Request-URI is a SIPS URI (which requires TLS).
    May raise :class:`SipParseError` for malformed headers in ``response``.
    """
    status = response.status
    if not 101 <= status <= 299:
        raise ValueError("only 101-299 responses create dialogs (§12.1)")
    remote_tag = response.to.tag
    if not remote_tag and status < 200:
        raise ValueError("a provisional response without a To tag creates no dialog (§12.1)")
    local_tag = request.from_.tag
    if not local_tag:
        raise ValueError("our request has no From tag (§8.1.1.3)")
    our_contacts = request.contacts
    if not our_contacts:
        raise ValueError("our dialog-creating request has no Contact (§8.1.1.8)")
    contacts = response.contacts
    return Dialog(
        call_id=request.call_id,
        local_tag=local_tag,
        remote_tag=remote_tag or "",
        local_uri=untagged(request.from_),
        remote_uri=untagged(response.to),
        remote_target=contacts[0].uri if contacts else request.uri,
        local_contact=our_contacts[0],
        route_set=tuple(reversed(response.record_routes)),
        local_seq=request.cseq.seq,
        remote_seq=None,
        secure=_is_sips(request.uri) if secure is None else secure,
        state=DialogState.EARLY if status < 200 else DialogState.CONFIRMED,
        role=DialogRole.UAC,
        method=request.method,
    )


def uas_dialog_from_request(
    request: Request,
    local_tag: str,
    local_contact: Address | Uri,
    *,
    state: DialogState = DialogState.EARLY,
    secure: bool | None = None,
    local_seq: int | None = None,
) -> Dialog:
    """The dialog we create by answering ``request`` with To tag ``local_tag`` (§12.1.1).

    The route set is the Record-Route list as received; the remote target is the request's
    Contact; the remote sequence number is its CSeq; the local one stays empty unless given
    (a dialog created by a NOTIFY to our SUBSCRIBE or REFER takes that request's CSeq; RFC 6665
    §4.1.2.4). ``state`` is EARLY when answering with a 1xx, CONFIRMED with a 2xx. A request
    without a From tag (RFC 2543) gets a null remote tag. Raises :class:`SipParseError`
    (status 400) when the request lacks a Contact or has malformed headers.
    """
    if not local_tag:
        raise ValueError("a UAS dialog needs a local tag (§12.1.1)")
    contacts = request.contacts
    if not contacts:
        raise SipParseError("Missing Contact in dialog-creating request")
    return Dialog(
        call_id=request.call_id,
        local_tag=local_tag,
        remote_tag=request.from_.tag or "",
        local_uri=untagged(request.to),
        remote_uri=untagged(request.from_),
        remote_target=contacts[0].uri,
        local_contact=_as_address(local_contact),
        route_set=tuple(request.record_routes),
        local_seq=local_seq,
        remote_seq=request.cseq.seq,
        secure=_is_sips(request.uri) if secure is None else secure,
        state=state,
        role=DialogRole.UAS,
        method=request.method,
    )
