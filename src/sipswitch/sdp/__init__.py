"""The pure SDP core (RFC 8866) and offer/answer (RFC 3264).

``parse_sdp(data)`` gives a frozen :class:`SessionDescription`; ``bytes(sdp)`` serializes it.
``build_offer`` / ``build_answer`` / ``check_answer`` negotiate one audio stream;
``is_on_hold``, ``nat_fixup`` and ``media_summary`` serve the B2BUA.
"""

from sipswitch.sdp.attributes import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Direction,
    Fmtp,
    Rtcp,
    RtpMap,
    parse_fmtp,
    parse_ptime,
    parse_rtcp,
    parse_rtpmap,
)
from sipswitch.sdp.b2bua import (
    MediaSummary,
    is_on_hold,
    is_private_address,
    media_on_hold,
    media_summary,
    nat_fixup,
)
from sipswitch.sdp.errors import OfferAnswerError, SdpParseError
from sipswitch.sdp.model import (
    Bandwidth,
    Connection,
    Media,
    Origin,
    SessionDescription,
    Timing,
    serialize,
)
from sipswitch.sdp.offer_answer import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Answer,
    Codec,
    CodecPolicy,
    LocalMedia,
    Negotiation,
    build_answer,
    build_offer,
    check_answer,
    new_session_id,
)
from sipswitch.sdp.parser import parse_sdp

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "Answer",
    "Attribute",
    "Bandwidth",
    "Codec",
    "CodecPolicy",
    "Connection",
    "Direction",
    "Fmtp",
    "LocalMedia",
    "Media",
    "MediaSummary",
    "Negotiation",
    "OfferAnswerError",
    "Origin",
    "Rtcp",
    "RtpMap",
    "SdpParseError",
    "SessionDescription",
    "Timing",
    "build_answer",
    "build_offer",
    "check_answer",
    "is_on_hold",
    "is_private_address",
    "media_on_hold",
    "media_summary",
    "nat_fixup",
    "new_session_id",
    "parse_fmtp",
    "parse_ptime",
    "parse_rtcp",
    "parse_rtpmap",
    "parse_sdp",
    "serialize",
]
