"""Outbound clients: the only code here that talks to other servers."""
