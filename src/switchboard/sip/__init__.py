"""SIP signalling for real phone calls: an asyncio user agent, client and server (RFC 3261).

The media (RTP) lives in switchboard.media; switchboard.network.sip joins the two.
"""

from switchboard.sip.call import CallListener, OutgoingCall
from switchboard.sip.incoming import IncomingCall, IncomingListener
from switchboard.sip.settings import SipConfigError, SipSettings, parse_sip_settings
from switchboard.sip.transactions import Timers
from switchboard.sip.useragent import SipUserAgent

__all__ = [
    "CallListener",
    "IncomingCall",
    "IncomingListener",
    "OutgoingCall",
    "SipConfigError",
    "SipSettings",
    "SipUserAgent",
    "Timers",
    "parse_sip_settings",
]
