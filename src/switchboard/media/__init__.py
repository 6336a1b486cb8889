"""Media for real calls: G.711 codecs, SDP, RTP sessions, DTMF, speech synthesis and audio decoding.

Everything here speaks PCM16: signed 16-bit little-endian samples, 8 kHz, mono. Codecs and the RTP
session convert at the edge, so the rest of Switchboard never sees µ-law or A-law bytes.
"""
