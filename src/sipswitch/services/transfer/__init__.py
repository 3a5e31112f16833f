"""Call transfers (REFER, RFC 3515): refused, passed through, or carried out by the switch."""
