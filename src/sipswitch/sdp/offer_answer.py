"""Offer/answer with SDP (RFC 3264) for a plain-RTP audio switch.

Policy (documented here because the RFC leaves it to us):

* We use **one audio stream**: the first offered ``audio`` m-line with a non-zero port, a
  connection address, a proto we speak (``RTP/AVP`` by default) and a codec in common. Every
  other m-line (video, a second audio stream, an unknown proto) is rejected with port 0,
  keeping count and order (§6).
* **Codec choice honours the offerer's order**: the answer's codec is the first format of the
  offer that we support (``CodecPolicy.OFFERER``, the RFC 3264 §6.1 recommendation); with
  ``CodecPolicy.OURS`` it is the first of our list that the offer has. By default the answer
  carries that single codec, which keeps a relaying B2BUA from having to transcode mid-call;
  ``single_codec=False`` lists every common codec in the chosen order.
* ``telephone-event`` (RFC 4733) is answered with the offered payload type and ``fmtp`` when its
  clock rate matches the chosen codec.
* Direction per §6.1 (sendonly→recvonly, recvonly→sendonly, inactive→inactive), narrowed by the
  direction we want; ``ptime`` is echoed.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sipswitch.sdp.attributes import Attribute, Direction, RtpMap
from sipswitch.sdp.errors import OfferAnswerError
from sipswitch.sdp.model import Connection, Media, Origin, SessionDescription

DTMF_ENCODING = "telephone-event"
RTP_AVP = "RTP/AVP"
_NOT_A_VOICE_CODEC = frozenset({DTMF_ENCODING, "cn"})


@dataclass(frozen=True, slots=True)
class Codec:
    """A codec we can handle; ``payload_type`` is the static or preferred one when offering."""

    encoding: str
    clock_rate: int
    channels: int | None = None
    payload_type: int | None = None
    fmtp: str | None = None

    def matches(self, rtpmap: RtpMap) -> bool:
        return rtpmap.same_codec(RtpMap(0, self.encoding, self.clock_rate, self.channels))

    def with_payload_type(self, payload_type: int) -> RtpMap:
        return RtpMap(payload_type, self.encoding, self.clock_rate, self.channels)


PCMU = Codec("PCMU", 8000, payload_type=0)
PCMA = Codec("PCMA", 8000, payload_type=8)
TELEPHONE_EVENT = Codec(DTMF_ENCODING, 8000, payload_type=101, fmtp="0-16")
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA)


class CodecPolicy(enum.StrEnum):
    """Whose preference order picks the codec when answering."""

    OFFERER = "offerer"
    OURS = "ours"


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """Our side, supplied by the caller: origin fields, media address and RTP port."""

    address: str
    port: int
    session_id: str
    session_version: int = 0
    username: str = "-"
    session_name: str = "-"

    @property
    def addrtype(self) -> str:
        return "IP6" if ":" in self.address else "IP4"

    def origin(self) -> Origin:
        return Origin(
            self.username, self.session_id, self.session_version, self.address, "IN", self.addrtype
        )

    def connection(self) -> Connection:
        return Connection(self.address, "IN", self.addrtype)


def new_session_id() -> str:
    """A fresh numeric ``sess-id`` for ``o=`` (RFC 8866 §5.2: unique, numeric)."""
    return str(secrets.randbits(62))


@dataclass(frozen=True, slots=True)
class Negotiation:
    """What was agreed for the audio stream we use, seen from our side."""

    index: int
    codec: RtpMap
    telephone_event: RtpMap | None
    direction: Direction
    ptime: float | None
    remote_address: str | None
    remote_port: int
    codecs: tuple[RtpMap, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer and, when a stream was accepted, what it agreed (else reply 488)."""

    sdp: SessionDescription
    negotiation: Negotiation | None


def build_offer(
    local: LocalMedia,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    *,
    telephone_event: Codec | None = TELEPHONE_EVENT,
    ptime: int | None = 20,
    direction: Direction = Direction.SENDRECV,
) -> SessionDescription:
    """An offer with one audio stream (RFC 3264 §5.1); dynamic payload types from 96 up."""
    if not codecs:
        raise ValueError("an offer needs at least one codec")
    wanted = [*codecs, telephone_event] if telephone_event is not None else list(codecs)
    taken = {c.payload_type for c in wanted if c.payload_type is not None}
    free = (pt for pt in range(96, 128) if pt not in taken)
    attributes: list[Attribute] = []
    formats: list[str] = []
    for codec in wanted:
        pt = codec.payload_type if codec.payload_type is not None else next(free)
        formats.append(str(pt))
        attributes.append(Attribute("rtpmap", str(codec.with_payload_type(pt))))
        if codec.fmtp is not None:
            attributes.append(Attribute("fmtp", f"{pt} {codec.fmtp}"))
    if ptime is not None:
        attributes.append(Attribute("ptime", str(ptime)))
    attributes.append(Attribute(direction.value))
    media = Media("audio", local.port, RTP_AVP, tuple(formats), attributes=tuple(attributes))
    return _session(local, (media,))


def build_answer(
    offer: SessionDescription,
    local: LocalMedia,
    codecs: Sequence[Codec] = DEFAULT_CODECS,
    *,
    telephone_event: bool = True,
    direction: Direction = Direction.SENDRECV,
    policy: CodecPolicy = CodecPolicy.OFFERER,
    single_codec: bool = True,
    protos: Sequence[str] = (RTP_AVP,),
) -> Answer:
    """Answer ``offer`` (RFC 3264 §6): same m-lines in the same order, rejected ones at port 0,
    and the offer's ``t=`` lines (the time cannot be negotiated). A stream without any
    connection address (RFC 8866 §5.7) is rejected, as there is nowhere to send its media.

    ``direction`` is what we want (e.g. sendonly to hold); the answered direction is that
    narrowed by the offered one (§6.1). See the module docstring for the codec policy.
    """
    answered: list[Media] = []
    negotiation: Negotiation | None = None
    for index, offered in enumerate(offer.media):
        accepted = None
        usable = (
            offered.port != 0
            and offered.media == "audio"
            and offered.proto in protos
            and offer.connection_for(offered) is not None
        )
        if negotiation is None and usable:
            accepted = _answer_stream(
                offer,
                offered,
                port=local.port,
                codecs=codecs,
                policy=policy,
                single_codec=single_codec,
                telephone_event=telephone_event,
                wanted=direction,
            )
        if accepted is None:
            answered.append(_rejected(offered))
            continue
        media, chosen, event, ours = accepted
        answered.append(media)
        connection = offer.connection_for(offered)
        negotiation = Negotiation(
            index=index,
            codec=chosen[0],
            telephone_event=event,
            direction=ours,
            ptime=offered.ptime,
            remote_address=None if connection is None else connection.address,
            remote_port=offered.port,
            codecs=chosen,
        )
    sdp = replace(_session(local, tuple(answered)), timings=offer.timings)
    return Answer(sdp, negotiation)


def _answer_stream(
    offer: SessionDescription,
    offered: Media,
    *,
    port: int,
    codecs: Sequence[Codec],
    policy: CodecPolicy,
    single_codec: bool,
    telephone_event: bool,
    wanted: Direction,
) -> tuple[Media, tuple[RtpMap, ...], RtpMap | None, Direction] | None:
    offered_codecs = offered.codecs()
    voice = [c for c in offered_codecs if c.encoding.lower() not in _NOT_A_VOICE_CODEC]
    if policy is CodecPolicy.OFFERER:
        common = [c for c in voice if any(ours.matches(c) for ours in codecs)]
    else:
        common = [c for ours in codecs for c in voice if ours.matches(c)]
    if not common:
        return None
    chosen = tuple(_unique(common[:1] if single_codec else common))
    rate = chosen[0].clock_rate
    event = None
    if telephone_event:
        event = next(
            (
                c
                for c in offered_codecs
                if c.encoding.lower() == DTMF_ENCODING and c.clock_rate == rate
            ),
            None,
        )
    attributes: list[Attribute] = []
    mid = offered.mid
    if mid is not None:
        attributes.append(Attribute("mid", mid))
    for rtpmap in chosen:
        attributes.append(Attribute("rtpmap", str(rtpmap)))
        local = next((c for c in codecs if c.matches(rtpmap)), None)
        if local is not None and local.fmtp is not None:
            attributes.append(Attribute("fmtp", f"{rtpmap.payload_type} {local.fmtp}"))
    formats = [str(c.payload_type) for c in chosen]
    if event is not None:
        formats.append(str(event.payload_type))
        attributes.append(Attribute("rtpmap", str(event)))
        event_fmtp = offered.fmtp(str(event.payload_type))
        if event_fmtp is not None:
            attributes.append(Attribute("fmtp", f"{event.payload_type} {event_fmtp}"))
    ptime = offered.attribute("ptime")
    if ptime is not None:
        attributes.append(Attribute("ptime", ptime))
    direction = offer.effective_direction(offered).answer(wanted)
    attributes.append(Attribute(direction.value))
    media = Media("audio", port, offered.proto, tuple(formats), attributes=tuple(attributes))
    return media, chosen, event, direction


def _unique(codecs: list[RtpMap]) -> list[RtpMap]:
    seen: set[int] = set()
    out = []
    for codec in codecs:
        if codec.payload_type not in seen:
            seen.add(codec.payload_type)
            out.append(codec)
    return out


def _rejected(offered: Media) -> Media:
    """A rejected stream: port 0, the offered formats (at least one is required) (§6)."""
    mid = offered.mid
    attributes = (Attribute("mid", mid),) if mid is not None else ()
    return Media(offered.media, 0, offered.proto, offered.formats, attributes=attributes)


def _session(local: LocalMedia, media: tuple[Media, ...]) -> SessionDescription:
    return SessionDescription(
        origin=local.origin(),
        session_name=local.session_name,
        connection=local.connection(),
        media=media,
    )


def check_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiation | None:
    """Check ``answer`` against our ``offer`` (RFC 3264 §6, §7) and say what was agreed.

    Raises :class:`OfferAnswerError` when the answer breaks the rules: a different number of
    m-lines, a changed media type, a stream offered with port 0 accepted, a direction not
    allowed by §6.1, an accepted stream without a connection address, or an accepted audio
    stream without any codec from the offer. Returns None when every stream was rejected (a
    valid answer with which no call can proceed). A format the answer lists without ``rtpmap``
    resolves through the static table, then through our offer's ``rtpmap``.
    """
    if len(answer.media) != len(offer.media):
        raise OfferAnswerError(
            f"answer has {len(answer.media)} m-lines, the offer had {len(offer.media)} (§6)"
        )
    result: Negotiation | None = None
    for index, (ours, theirs) in enumerate(zip(offer.media, answer.media, strict=True)):
        where = f"m-line {index + 1}"
        if theirs.media != ours.media:
            raise OfferAnswerError(
                f"{where}: media {theirs.media!r} does not match offered {ours.media!r} (§6.1)"
            )
        if theirs.port == 0:
            continue
        if ours.port == 0:
            raise OfferAnswerError(f"{where}: stream offered with port 0 was accepted (§8.2)")
        connection = answer.connection_for(theirs)
        if connection is None:
            raise OfferAnswerError(f"{where}: accepted stream has no connection address")
        offered = offer.effective_direction(ours)
        answered = answer.effective_direction(theirs)
        if (answered.sends and not offered.receives) or (answered.receives and not offered.sends):
            raise OfferAnswerError(
                f"{where}: {answered.value} is not a valid answer to {offered.value} (§6.1)"
            )
        if result is not None or ours.media != "audio":
            continue
        offered_codecs = ours.codecs()
        answered_codecs = _resolve(theirs, ours)
        common = tuple(
            c
            for c in answered_codecs
            if c.encoding.lower() not in _NOT_A_VOICE_CODEC
            and any(o.same_codec(c) for o in offered_codecs)
        )
        if not common:
            raise OfferAnswerError(f"{where}: the answer has no codec from the offer (§6.1)")
        rate = common[0].clock_rate
        offered_event = any(
            o.encoding.lower() == DTMF_ENCODING and o.clock_rate == rate for o in offered_codecs
        )
        event = next(
            (
                c
                for c in answered_codecs
                if offered_event and c.encoding.lower() == DTMF_ENCODING and c.clock_rate == rate
            ),
            None,
        )
        result = Negotiation(
            index=index,
            codec=common[0],
            telephone_event=event,
            direction=Direction.of(answered.receives, answered.sends),
            ptime=theirs.ptime,
            remote_address=connection.address,
            remote_port=theirs.port,
            codecs=common,
        )
    return result


def _resolve(theirs: Media, ours: Media) -> tuple[RtpMap, ...]:
    """The answer's formats as codecs, borrowing our ``rtpmap`` for a bare dynamic type."""
    known = {c.payload_type: c for c in theirs.codecs()}
    fallback = ours.rtpmaps
    out: list[RtpMap] = []
    for fmt in theirs.formats:
        if not (fmt.isascii() and fmt.isdigit() and len(fmt) <= 3):
            continue
        codec = known.get(int(fmt)) or fallback.get(int(fmt))
        if codec is not None:
            out.append(codec)
    return tuple(out)
