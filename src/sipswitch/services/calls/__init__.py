"""The B2BUA: legs, forking (parallel and sequential), bridging, in-dialog relay, CDRs."""
