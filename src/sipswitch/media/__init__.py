"""The pure media core: RTP/RTCP, G.711, RFC 4733 events."""
